"""The desktop app attached to a running `postroomd serve` (the system service's way of running): one engine
serves the data folder, and the app's windows work on it over the admin socket. The main window says which
engine it is attached to; a user added in the Users window exists for the service at once; Pause closes
the service's listeners; Quit leaves the service running; a service that goes away is said so, and the
window recovers when it is back."""

import json
import shutil
import subprocess
import time
from pathlib import Path

from conftest import POSTROOMD, SHOTS, DataFolder, Desktop, greeting, launch, postroomd, wait_until


def serve(data_dir, *extra):
    proc = subprocess.Popen([str(POSTROOMD), "--data-dir", str(data_dir), "serve", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: greeting(data_dir.ports["imap"]), what="the service's IMAP greeting")
    return proc


def stop(proc):
    proc.terminate()
    proc.wait(30)


def test_the_app_attaches_to_the_postroomd_serving_its_folder_and_its_windows_change_the_service(tauri_driver, data_dir):
    service = serve(data_dir)
    driver = None
    try:
        driver = launch(tauri_driver, ["--data-dir", str(data_dir)])
        app = Desktop(driver, data_dir)
        wait_until(lambda: f"(pid {service.pid}," in app.text("#engine-link"), what="the attached line")
        line = app.text("#engine-link")
        assert f"Attached to the postroomd service (pid {service.pid}, version " in line
        assert f"serving {data_dir}" in line and f"through {data_dir}/admin.sock" in line
        wait_until(lambda: app.text("#services-table").count("Running") == 7, what="the service's 7 running services")
        assert f"attached to postroomd (pid {service.pid})" in app.text("#footer-info")
        app.screenshot("attached-main")

        # A user added in the window is the service's user at once.
        main = driver.current_window_handle
        app.open_window("#btn-open-users", "users")
        app.click("#btn-new-user")
        app.type("#user-name", "gina")
        app.type("#user-real-name", "Gina Lopez")
        app.type("#user-password", "gina-secret-1")
        app.type("#user-password2", "gina-secret-1")
        app.click("#btn-user-ok")
        wait_until(lambda: "gina" in app.text("#users-table"), what="gina in the table")
        users = json.loads(postroomd(data_dir, "user", "list", "--json"))
        assert next(u for u in users if u["name"] == "gina")["real_name"] == "Gina Lopez"
        app.screenshot("attached-users")
        driver.close()
        driver.switch_to.window(main)

        # Files named in a window are opened by the service: the window says so while attached.
        app.open_window("#btn-open-certificate", "certificate")
        note = wait_until(lambda: app.text("#cert-service-note"), what="the certificate window's note")
        assert f"The postroomd service (pid {service.pid}) opens these files itself, as the postroom user" in note
        app.screenshot("attached-certificate")
        driver.close()
        driver.switch_to.window(main)

        # Pause and Resume act on the service's listeners.
        app.click("#btn-pause")
        wait_until(lambda: greeting(data_dir.ports["pop3"], 0.3) is None, what="the service's POP3 to close")
        wait_until(lambda: "Paused" in app.text("#status-header"), what="the paused header")
        app.click("#btn-pause")
        assert wait_until(lambda: greeting(data_dir.ports["pop3"]), what="POP3 to reopen").startswith("+OK")

        # The service goes away: the window says so instead of showing old figures.
        stop(service)
        wait_until(lambda: "No answer from the mail server" in app.text("#status-header"), what="the header to say so")
        assert "does not answer" in app.text("body") or "closed the connection" in app.text("body")
        app.screenshot("attached-service-gone")
        # Back again (a restart by systemd): the same window works on it.
        service = serve(data_dir)
        wait_until(lambda: app.text("#services-table").count("Running") == 7 and "Cannot read" not in app.text("body"),
                   timeout=30, what="the window to recover")
        assert "1" == app.text("#fig-users").strip()

        # Quit ends the app only: the service keeps serving.
        driver.quit()
        driver = None
        assert greeting(data_dir.ports["imap"]).startswith("* OK"), "the service outlives the app"
    finally:
        if driver:
            driver.quit()
        stop(service)


def test_attach_to_a_named_socket_and_a_clear_message_when_nothing_answers(tauri_driver, data_dir, tmp_path):
    socket_path = tmp_path / "run" / "admin.sock"
    socket_path.parent.mkdir()
    service = serve(data_dir, "--admin-socket", str(socket_path))
    try:
        driver = launch(tauri_driver, ["--attach", str(socket_path)])
        try:
            app = Desktop(driver, data_dir)
            wait_until(lambda: f"through {socket_path}" in app.text("#engine-link"), what="the attached line")
            wait_until(lambda: app.text("#services-table").count("Running") == 7, what="7 running services")
        finally:
            driver.quit()
    finally:
        stop(service)
    # Nothing answers there now: the app says why (on standard error and in a message box) and exits
    # instead of starting an engine of its own.
    err = tmp_path / "stderr.txt"
    with open(err, "w") as sink:
        app = subprocess.Popen([str(POSTROOMD.parent / "postroom"), "--attach", str(socket_path)],
                               stdout=subprocess.DEVNULL, stderr=sink)
    try:
        wait_until(lambda: "Postroom cannot start" in err.read_text(), timeout=30, what="the refusal")
        assert f"Postroom cannot start: the Postroom service does not answer on {socket_path}" in err.read_text()
        box = wait_until(lambda: subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^Postroom$"],
                                                capture_output=True, text=True).stdout.split(), what="the message box")
        time.sleep(1)
        geometry = dict(line.split("=") for line in subprocess.run(
            ["xdotool", "getwindowgeometry", "--shell", box[-1]], capture_output=True, text=True).stdout.split())
        crop = f"{geometry['WIDTH']}x{geometry['HEIGHT']}+{geometry['X']}+{geometry['Y']}"
        subprocess.run(["import", "-window", "root", "-crop", crop, "+repage", str(SHOTS / "attach-refused.png")],
                       check=True, timeout=30)
        subprocess.run(["xdotool", "windowfocus", "--sync", box[-1], "key", "Return"], check=True)
        assert app.wait(30) == 1
    finally:
        if app.poll() is None:
            app.kill()


def test_the_system_service_switch_says_why_it_cannot_be_used_here_and_a_folder_moved_to_the_service_attaches_to_it(
        tauri_driver, data_dir, tmp_path):
    """The main window's "Run the mail server as a system service" shows what `postroomd service status`
    says (on a machine without systemd: greyed out, with the reason). A data folder whose mail moved to
    the system service is never opened again: the app attaches to the service at /run/postroomd."""
    state = json.loads(postroomd(data_dir, "service", "status", "--json"))
    driver = launch(tauri_driver, ["--data-dir", str(data_dir)])
    try:
        app = Desktop(driver, data_dir)
        wait_until(lambda: greeting(data_dir.ports["imap"]), what="the app's own engine")
        title = wait_until(lambda: app.driver.execute_script(
            "const e = document.querySelector('#system-service-line'); return e ? e.title : '';"), what="the switch")
        disabled = app.driver.execute_script("return document.querySelector('#system-service').disabled")
        assert "Run the mail server as a system service" in app.text("#system-service-line")
        if state["available"]:
            assert not disabled and state["why_not"] is None
        else:
            assert disabled and title == f"Not available: {state['why_not']}", title
        app.screenshot("main-system-service")
    finally:
        driver.quit()
    wait_until(lambda: greeting(data_dir.ports["imap"], 0.3) is None, what="the app to stop")

    # The mail moved to the service (as `postroomd service enable --from` leaves it): the folder is marked,
    # and the service answers on its socket.
    service_folder = tmp_path / "service-data"
    for service, port in data_dir.ports.items():
        postroomd(DataFolder(service_folder, data_dir.ports), "settings", "set", f"services.{service}.port", str(port),
                  f"services.{service}.bind_address", "127.0.0.1")
    (data_dir.path / "moved-away.json").write_text(json.dumps({"to": str(service_folder), "at": int(time.time()), "by": "service"}))
    run_dir = Path("/run/postroomd")
    run_dir.mkdir(mode=0o755, exist_ok=True)
    service = subprocess.Popen([str(POSTROOMD), "--data-dir", str(service_folder), "serve",
                                "--admin-socket", str(run_dir / "admin.sock"), "--admin-group", "root"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: greeting(data_dir.ports["imap"]), what="the service's IMAP greeting")
        driver = launch(tauri_driver, ["--data-dir", str(data_dir)])
        try:
            app = Desktop(driver, data_dir)
            wait_until(lambda: f"(pid {service.pid}," in app.text("#engine-link"), what="the attached line")
            assert f"serving {service_folder}, through /run/postroomd/admin.sock" in app.text("#engine-link")
            app.screenshot("attached-moved-folder")
        finally:
            driver.quit()
    finally:
        stop(service)
        shutil.rmtree(run_dir, ignore_errors=True)
