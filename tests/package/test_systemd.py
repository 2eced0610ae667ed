"""The system service for real: a Debian 12 whose PID 1 is systemd (systemd-nspawn, sharing this
machine's network), the .deb installed in it with dpkg, and the switch's helper, `postroomd service
enable --from`, moving a desktop user's data folder into the service: systemd starts the hardened unit as
the postroom user on the standard ports, mail goes in over SMTP and out over IMAP from this machine, the
admin reaches the admin socket without logging in again, the old folder is never served again, kill -9
brings the service back, and `service disable --to` brings the mail home.

The Debian tree is made once with debootstrap (with the package's dependencies) under /var/tmp and
copied for each run; this needs root, the Debian mirror, and ports 25, 110, 143, 465, 587, 993, 995 free.
"""

import imaplib
import json
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, answers, newest_bundle, run, wait_for

HOME = Path("/var/tmp/postroom-systemd")
BASE = HOME / "base"
TREE = HOME / "run"
MIRROR = "http://deb.debian.org/debian"
DESKTOP_DATA = "/home/office/.local/share/postroom"


def package_depends(deb):
    """The first choice of each dependency of the .deb (names only)."""
    depends = run("dpkg-deb", "-f", deb, "Depends").stdout
    return sorted({re.split(r"[\s(]", alt.split("|")[0].strip())[0] for alt in depends.split(",") if alt.strip()})


def ensure_base(deb):
    """A Debian 12 tree with systemd and what the package depends on (made once, topped up when the
    package's dependencies change)."""
    # man: systemd-analyze verify reads Documentation=; Xvfb and WebKitWebDriver for the app's own window.
    wanted = " ".join(package_depends(deb) + ["python3", "man-db", "procps", "iproute2", "xvfb", "webkit2gtk-driver", "xauth"])
    ready = BASE / ".postroom-deps"
    if ready.exists() and ready.read_text() == wanted:
        return
    if not (BASE / "usr/lib/systemd/systemd").exists():
        shutil.rmtree(BASE, ignore_errors=True)
        BASE.parent.mkdir(parents=True, exist_ok=True)
        run("debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus,ca-certificates",
            "bookworm", str(BASE), MIRROR)
    run("systemd-nspawn", "-q", "-D", str(BASE), "--register=no", "--keep-unit", "-E", "DEBIAN_FRONTEND=noninteractive",
        "sh", "-c", f"apt-get update -qq && apt-get install -y -qq --no-install-recommends {wanted}")
    ready.write_text(wanted)


class Machine:
    """The booted tree: commands run in it with nsenter into its systemd's namespaces."""

    def __init__(self, leader):
        self.leader = leader

    def sh(self, command, check=True, input=None):
        done = run("nsenter", "-t", str(self.leader), "-a", "sh", "-c", command, check=False, input=input)
        if check:
            assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def out(self, command):
        return self.sh(command).stdout.strip()

    def start(self, command, log):
        """A long-running command in the machine, its output to `log`."""
        return subprocess.Popen(["nsenter", "-t", str(self.leader), "-a", "sh", "-c", command],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def machine():
    deb = newest_bundle("deb")
    ensure_base(deb)
    shutil.rmtree(TREE, ignore_errors=True)
    run("cp", "-a", "--reflink=auto", str(BASE), str(TREE))
    shutil.copy(deb, TREE / "root/postroom.deb")
    log = open(HOME / "boot.log", "w")
    driver = shutil.which("tauri-driver")
    assert driver, "tauri-driver is installed by scripts/setup.sh --test"
    nspawn = subprocess.Popen(["systemd-nspawn", "-b", "-q", "-D", str(TREE), "--register=no", "--keep-unit",
                               f"--bind-ro={driver}:/usr/local/bin/tauri-driver"],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        leader = None
        while leader is None:
            assert nspawn.poll() is None, (HOME / "boot.log").read_text()
            assert time.time() < deadline, "the container did not start"
            children = run("pgrep", "-P", str(nspawn.pid), check=False).stdout.split()
            leader = int(children[0]) if children else None
            time.sleep(0.2)
        m = Machine(leader)
        while m.sh("systemctl is-system-running", check=False).stdout.strip() not in ("running", "degraded"):
            assert time.time() < deadline, m.sh("systemctl --failed", check=False).stdout
            time.sleep(0.5)
        assert m.out("cat /proc/1/comm") == "systemd"
        yield m
    finally:
        nspawn.send_signal(signal.SIGTERM)  # systemd-nspawn asks the container's systemd to power off
        try:
            nspawn.wait(60)
        except subprocess.TimeoutExpired:
            nspawn.kill()
            nspawn.wait(10)
        log.close()
        shutil.rmtree(TREE, ignore_errors=True)


def read_mail(subject):
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    imap = imaplib.IMAP4("127.0.0.1", 143, timeout=10)
    imap.starttls(tls)
    imap.login("ann", "ann-secret-1")
    imap.select("INBOX")
    _, found = imap.search(None, "SUBJECT", f'"{subject}"')
    imap.logout()
    return found[0].split()


@pytest.mark.timeout(900)  # the first run makes the Debian tree (debootstrap and the dependencies: a few minutes)
def test_the_switch_moves_a_desktop_folder_into_the_systemd_service_and_back(machine):
    m = machine
    for port in (25, 110, 143, 465, 587, 993, 995):
        assert not answers(port), f"port {port} is in use on this machine"
    m.sh("dpkg -i /root/postroom.deb")
    assert m.out("systemctl is-enabled postroomd.service || true") == "disabled", "not enabled until the admin chooses it"
    verified = m.sh("systemd-analyze verify postroomd.service", check=False)
    assert verified.returncode == 0 and "postroomd" not in verified.stderr, verified.stderr

    # A desktop user's data folder, as Postroom in the tray made it: a domain and a user.
    m.sh("useradd -m office")
    m.sh(f"runuser -u office -- postroomd --data-dir {DESKTOP_DATA} domain add office.test")
    m.sh(f"runuser -u office -- postroomd --data-dir {DESKTOP_DATA} user add ann --password-stdin", input="ann-secret-1\n")
    # What the app asks before offering the switch: here it can be used (root; pkexec comes with the package).
    state = json.loads(m.out("runuser -u office -- postroomd service status --json"))
    assert state["available"] and not state["enabled"] and not state["active"], state

    # The switch's helper, as pkexec runs it for office (sudo here: SUDO_USER names the same person).
    enabled = m.sh(f"SUDO_USER=office postroomd service enable --from {DESKTOP_DATA}")
    steps = enabled.stdout
    for step in (f"waiting for {DESKTOP_DATA} to be let go", f"copying {DESKTOP_DATA} to /var/lib/postroom",
                 "adding office to the postroom group", "starting the service"):
        assert step in steps, steps
    pid = int(re.search(r"runs as the system service \(pid (\d+)\)", steps).group(1))
    assert m.out("systemctl is-enabled postroomd") == "enabled" and m.out("systemctl is-active postroomd") == "active"
    assert m.out("systemctl show -p MainPID --value postroomd") == str(pid)

    # Hardened as the unit says, as the postroom user, and its data where it should be.
    shown = dict(line.split("=", 1) for line in m.out(
        "systemctl show -p User -p NoNewPrivileges -p ProtectSystem -p AmbientCapabilities -p ProtectHome postroomd").splitlines())
    assert shown == {"User": "postroom", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                     "AmbientCapabilities": "cap_net_bind_service", "ProtectHome": "yes"}, shown
    assert m.out(f"ps -o user= -p {pid}") == "postroom"
    assert m.out("stat -c '%U %a' /var/lib/postroom /var/lib/postroom/postroom.db").splitlines() == ["postroom 700", "postroom 600"]
    moved = json.loads(m.out(f"cat {DESKTOP_DATA}/moved-away.json"))
    assert moved["to"] == "/var/lib/postroom" and moved["by"] == "service", moved
    assert "postroom" in m.out("id -nG office").split()

    # Mail through the service on the standard ports, from this machine.
    with smtplib.SMTP("127.0.0.1", 25, timeout=10) as smtp:
        smtp.sendmail("someone@example.net", ["ann@office.test"], "From: someone@example.net\r\nSubject: via systemd\r\n\r\nhello\r\n")
    assert wait_for(lambda: read_mail("via systemd"), "the message in ann's inbox")

    # office reaches the admin socket at once (no new login), from a process that carries no groups.
    ask = ('import socket; s = socket.socket(socket.AF_UNIX); s.connect("/run/postroomd/admin.sock"); '
           's.sendall(b\'{"id": 1, "call": "get_engine_identity"}\\n\'); print(s.makefile().readline())')
    answer = json.loads(m.sh("setpriv --reuid=office --regid=office --clear-groups python3 -", input=ask).stdout)
    assert answer["ok"]["pid"] == pid and answer["ok"]["data_dir"] == "/var/lib/postroom", answer

    # The old folder is never served again, and the service's own mail is not replaced by accident.
    refused = m.sh(f"runuser -u office -- postroomd --data-dir {DESKTOP_DATA} serve", check=False)
    assert refused.returncode == 1 and "moved to the system service (/var/lib/postroom)" in refused.stderr, refused.stderr
    m.sh("runuser -u office -- postroomd --data-dir /home/office/other domain add other.test")
    again = m.sh("postroomd service enable --from /home/office/other", check=False)
    assert again.returncode == 1 and "already holds mail of its own" in again.stderr, again.stderr
    assert m.out("systemctl is-active postroomd") == "active"

    # kill -9: systemd starts it again (Restart=on-failure), with the mail.
    m.sh(f"kill -9 {pid}")
    wait_for(lambda: m.out("systemctl show -p MainPID --value postroomd") not in ("0", str(pid))
             and m.out("systemctl is-active postroomd || true") == "active", "systemd to restart it", timeout=40)
    assert wait_for(lambda: read_mail("via systemd"), "the mail after the restart", timeout=20)

    # Off: the mail comes back to office's folder; the service's copy is marked as moved.
    disabled = m.sh(f"SUDO_USER=office postroomd service disable --to {DESKTOP_DATA}").stdout
    assert f"its mail is back in {DESKTOP_DATA}" in disabled, disabled
    assert m.out("systemctl is-enabled postroomd || true") == "disabled"
    assert m.out("systemctl is-active postroomd || true") == "inactive"
    wait_for(lambda: not answers(25), "port 25 to close")
    assert m.sh(f"test -e {DESKTOP_DATA}/moved-away.json", check=False).returncode == 1
    assert m.out(f"stat -c %U {DESKTOP_DATA}/postroom.db") == "office"
    assert "ann" in m.out(f"runuser -u office -- postroomd --data-dir {DESKTOP_DATA} user list")
    assert m.out("ls -d /home/office/.local/share/postroom.before-*"), "the folder it replaced was set aside, not deleted"
    assert json.loads(m.out("cat /var/lib/postroom/moved-away.json"))["to"] == DESKTOP_DATA
    # The mail that came in while it was a service came back too.
    stored = m.out(f"runuser -u office -- postroomd --data-dir {DESKTOP_DATA} user list --json")
    assert next(u for u in json.loads(stored) if u["name"] == "ann")["message_count"] == 1, stored


SHOTS = ROOT / "test-output" / "screenshots"


def screenshot(name):
    """The machine's screen (its X server is reachable here: the network namespace, so its abstract
    socket, is shared)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    run("import", "-display", ":7", "-window", "root", str(SHOTS / f"{name}.png"))


def app_processes(m):
    return set(m.out("pgrep -x postroom || true").split())


def connected_to_service(m):
    """Pids of postroom processes connected to the service's admin socket (ss names the server's end by
    the path it was bound at, a private folder beside admin.sock; the client's end by its peer's inode)."""
    rows = [line.split() for line in m.out("ss -xpn").splitlines() if line.startswith("u_str")]
    server_ends = {r[7] for r in rows if len(r) > 8 and r[4].startswith("/run/postroomd/") and '"postroomd"' in r[8]}
    return {pid for r in rows if len(r) > 8 and r[5] in server_ends for pid in re.findall(r'"postroom",pid=(\d+)', r[8])}


def open_app(port):
    from selenium import webdriver
    from selenium.webdriver.common.options import ArgOptions
    options = ArgOptions()
    options.set_capability("browserName", "wry")
    options.set_capability("tauri:options", {"application": "/usr/bin/postroom", "args": []})
    return webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)


def flip_the_switch(driver, name):
    """Clicks "Run the mail server as a system service" and confirms."""
    box = wait_for(lambda: driver.execute_script(
        "const b = document.querySelector('#system-service'); return b && !b.disabled && b;"), "the switch to be usable")
    box.click()
    wait_for(lambda: driver.execute_script("return document.querySelector('#btn-confirm-ok')"), "the confirmation")
    screenshot(name)
    driver.execute_script("document.querySelector('#btn-confirm-ok').click()")


@pytest.mark.timeout(600)
def test_the_main_windows_switch_moves_the_running_app_into_the_service_and_back(machine):
    """The desktop app in the machine, run by an ordinary user (clerk) and driven by WebDriver: ticking
    the switch asks pkexec (polkit says yes to clerk here, as it would after the administrator's password),
    stops the app's engine, moves its mail into the service, adds clerk to the postroom group and restarts
    the app, which attaches to the service in the same login; unticking brings the mail back and the app
    serves it again."""
    m = machine
    if m.sh("dpkg -s postroom", check=False).returncode != 0:
        m.sh("dpkg -i /root/postroom.deb")
    m.sh("systemctl disable --now postroomd")
    m.sh("id clerk || useradd -m clerk")
    # What the password dialog grants, without the dialog: polkit's answer for clerk's pkexec. Only for
    # the package's own action (org.postroom.postroomd, whose dialog names Postroom): were pkexec to use
    # the generic "run a program as another user" action, clerk would not be allowed and the test fails.
    assert "Move Postroom's mail server" in m.out("pkaction --action-id org.postroom.postroomd --verbose")
    m.sh("mkdir -p /etc/polkit-1/rules.d && cat > /etc/polkit-1/rules.d/49-postroom-test.rules", input=(
        'polkit.addRule(function(action, subject) {\n'
        '  if (action.id == "org.postroom.postroomd" && subject.user == "clerk") return polkit.Result.YES;\n'
        '});\n'))
    folder = "/home/clerk/.local/share/postroom"
    as_clerk = "runuser -u clerk -- env HOME=/home/clerk"
    m.sh(f"rm -rf {folder} && {as_clerk} postroomd --data-dir {folder} domain add desk.test")
    m.sh(f"{as_clerk} postroomd --data-dir {folder} user add dora --password-stdin", input="dora-secret-1\n")
    # The app is an ordinary program (only postroomd may use ports below 1024): its ports are 10000 up.
    ports = {"smtp": 10025, "submission": 10587, "smtps": 10465, "pop3": 10110, "pop3s": 10995, "imap": 10143, "imaps": 10993}
    m.sh(f"{as_clerk} postroomd --data-dir {folder} settings set " + " ".join(f"services.{k}.port {v}" for k, v in ports.items()))
    logs = open(HOME / "app.log", "w")
    m.start("Xvfb :7 -screen 0 1280x800x24 -nolisten tcp", logs)
    port = 4499
    m.start(f"sleep 1; {as_clerk} DISPLAY=:7 dbus-run-session -- tauri-driver --port {port}", logs)
    wait_for(lambda: m.sh(f"ss -ltn | grep -q :{port}", check=False).returncode == 0, "tauri-driver")
    driver = open_app(port)
    try:
        wait_for(lambda: answers(10143).startswith(b"* OK"), "the app's own engine on port 10143")
        # The installed app's window runs the packaged web process extension (src-tauri/webext).
        wait_for(lambda: "/usr/lib/postroom/webkit/libpostroom_webext.so" in m.out(
            "cat /proc/$(pgrep -n -x WebKitWebProces)/maps 2>/dev/null || true"), "the extension in the window's web process")
        before = app_processes(m)
        screenshot("service-switch-1-app")
        flip_the_switch(driver, "service-switch-2-confirm")
        wait_for(lambda: m.out("systemctl is-active postroomd || true") == "active", "the service to run", timeout=60)
        # The session ends only once the app has restarted itself (ending it kills the app it started).
        restarted = wait_for(lambda: connected_to_service(m) - before, "the restarted app attached to the service", timeout=60)
    finally:
        try:
            driver.quit()
        except Exception:
            pass  # the app restarted under it
    assert app_processes(m) == restarted, "one app, the restarted one"
    assert json.loads(m.out(f"cat {folder}/moved-away.json"))["by"] == "service"
    assert m.out("stat -c %U /var/lib/postroom/postroom.db") == "postroom"
    assert "postroom" in m.out("id -nG clerk").split(), "pkexec's helper made clerk an admin of the service"
    assert m.out(f"ps -o user= -p {restarted.pop()}") == "clerk"
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    imap = imaplib.IMAP4("127.0.0.1", 10143, timeout=10)
    imap.starttls(tls)
    imap.login("dora", "dora-secret-1")  # dora's account, served by the service now
    imap.logout()
    time.sleep(2)
    screenshot("service-switch-3-attached")

    # Off again, from the attached app: the mail comes back and the app serves it itself.
    m.sh("pkill -x postroom")
    wait_for(lambda: not app_processes(m), "the app to quit")
    driver = open_app(port)
    try:
        line = wait_for(lambda: driver.execute_script(
            "const e = document.querySelector('#engine-link'); return e && !e.hidden && e.innerText;"), "the attached line")
        assert "Attached to the postroomd service" in line and "serving /var/lib/postroom" in line, line
        assert driver.execute_script("return document.querySelector('#system-service').checked")
        before = app_processes(m)
        flip_the_switch(driver, "service-switch-4-confirm-off")
        wait_for(lambda: m.out("systemctl is-active postroomd || true") == "inactive", "the service to stop", timeout=60)
        wait_for(lambda: app_processes(m) - before, "the app to restart", timeout=60)
    finally:
        try:
            driver.quit()
        except Exception:
            pass
    wait_for(lambda: answers(10143).startswith(b"* OK"), "the app's own engine serving again", timeout=60)
    assert m.sh(f"test -e {folder}/moved-away.json", check=False).returncode == 1
    assert not connected_to_service(m)
    assert m.out("systemctl is-enabled postroomd || true") == "disabled"
    assert m.out(f"stat -c %U {folder}/postroom.db") == "clerk"
    time.sleep(2)
    screenshot("service-switch-5-own-engine")
    m.sh("pkill -x postroom; pkill -x tauri-driver; pkill -x Xvfb", check=False)
