"""End-to-end tests of the real desktop app: `postroom` under Xvfb, driven through tauri-driver and
WebKitWebDriver. Each test gets a fresh data folder whose services listen on free loopback ports."""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
APP = TARGET / "postroom"
POSTROOMD = TARGET / "postroomd"
SHOTS = ROOT / "test-output" / "screenshots"
SERVICES = ["smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps", "http", "https"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postroomd(data_dir, *args, stdin=""):
    """Runs a postroomd command against the test's data folder and returns its standard output."""
    done = subprocess.run([str(POSTROOMD), "--data-dir", str(data_dir), *args],
                          input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"postroomd {args} failed: {done.stderr}"
    return done.stdout


def greeting(port, timeout=1.0):
    """The first line a service sends, or None when nothing listens."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(5)
            return s.makefile("rb").readline().decode()
    except OSError:
        return None


def wait_until(check, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        # A window that re-renders (or a dialog being removed) may replace an element while it is being
        # looked at: that counts as "not yet", and the check runs again.
        try:
            value = check()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class DataFolder(os.PathLike):
    """A test's data folder and the loopback port each service was given."""

    def __init__(self, path, ports):
        self.path, self.ports = path, ports

    def __fspath__(self):
        return str(self.path)

    def __str__(self):
        return str(self.path)


@pytest.fixture
def data_dir(tmp_path):
    ports = set()
    while len(ports) < len(SERVICES):  # the system may hand out one free port twice
        ports.add(free_port())
    folder = DataFolder(tmp_path / "data", dict(zip(SERVICES, sorted(ports))))
    for service, port in folder.ports.items():
        postroomd(folder, "settings", "set", f"services.{service}.bind_address", "127.0.0.1",
                  f"services.{service}.port", str(port))
    return folder


class Desktop:
    """The running app as a WebDriver session, with helpers for its windows."""

    def __init__(self, driver, data_dir):
        self.driver = driver
        self.data_dir = data_dir
        self.ports = data_dir.ports
        self.wait = WebDriverWait(driver, 15)

    def find(self, css):
        return self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, css):
        # As the admin would, scroll the window's content to the control first. A list that refreshes itself
        # may replace the element between finding and clicking it: found again then.
        for attempt in range(3):
            try:
                self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", self.find(css))
                self.wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, css))).click()
                return
            except StaleElementReferenceException:
                if attempt == 2:
                    raise

    def type(self, css, text):
        field = self.find(css)
        field.clear()
        field.send_keys(text)

    def text(self, css="body"):
        """The element's rendered text (innerText: what the admin sees), or "" when it is absent."""
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)

    def open_window(self, button_css, route):
        """Clicks a button that opens another window and switches to that window."""
        known = set(self.driver.window_handles)
        self.click(button_css)
        handle = wait_until(lambda: next(iter(set(self.driver.window_handles) - known), None),
                            what=f"the {route} window")
        self.driver.switch_to.window(handle)
        wait_until(lambda: self.driver.execute_script("return location.hash") == f"#/{route}",
                   what=f"route {route}")
        return handle

    def screenshot(self, name):
        """The screen's pixels where the current window is, as the admin sees them (the X server's own
        picture: WebKitWebDriver's snapshot waits forever on a window drawn without GPU compositing, which
        is how Postroom draws its windows)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        time.sleep(0.3)  # let the last render settle
        r = self.driver.get_window_rect()
        crop = ["-crop", f"{r['width']}x{r['height']}+{max(r['x'], 0)}+{max(r['y'], 0)}", "+repage"]
        subprocess.run(["import", "-window", "root", *crop, str(SHOTS / f"{name}.png")], check=True, timeout=30)

    def status(self):
        out = subprocess.run([str(POSTROOMD), "--data-dir", str(self.data_dir), "status", "--json"],
                             capture_output=True, text=True, timeout=30).stdout
        return json.loads(out)


@pytest.fixture(scope="session")
def tauri_driver():
    port, native = free_port(), free_port()
    proc = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port", str(native)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: greeting(port, 0.2) is not None or _listening(port), what="tauri-driver")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def launch(tauri_driver, args):
    """The desktop app started with `args` under a new WebDriver session (tried three times: WebKit may
    be slow to come up on a loaded machine)."""
    options = ArgOptions()
    options.set_capability("browserName", "wry")
    options.set_capability("tauri:options", {"application": str(APP), "args": args})
    for attempt in range(3):
        try:
            return webdriver.Remote(command_executor=tauri_driver, options=options)
        except WebDriverException:
            if attempt == 2:
                raise
            time.sleep(2)


@pytest.fixture
def desktop(tauri_driver, data_dir):
    driver = launch(tauri_driver, ["--data-dir", str(data_dir)])
    app = Desktop(driver, data_dir)
    # Wait for the engine to be serving before the test starts.
    wait_until(lambda: greeting(data_dir.ports["imap"]), what="the engine's IMAP greeting")
    yield app
    try:
        driver.quit()
    finally:
        # The app must not outlive its test: the next one would find it as the single instance.
        wait_until(lambda: greeting(data_dir.ports["imap"], 0.3) is None, what="the app to stop")
