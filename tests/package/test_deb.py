"""The .deb as an admin installs it (built by scripts/package.sh first): apt installs it with its
dependencies; the programs, desktop entry, icon, man pages and systemd unit are where they belong; the
postroom user, /var/lib/postroom (0700) and postroomd's right to use ports below 1024 are set up; the unit
passes `systemd-analyze verify`; postroomd runs from /usr/bin as the postroom user on the standard ports and
a message goes in over SMTP and comes out over IMAPS and POP3S; the service's admin socket opens only to
the postroom group, and the installed desktop app attaches to the service; removing keeps the mail, purging
deletes it.

Runs as root and changes the machine (the package is purged again at the end). The tests run in order."""

import grp
import imaplib
import json
import os
import poplib
import pwd
import shutil
import smtplib
import socket
import ssl
import stat
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, newest_bundle, run

DATA = Path("/var/lib/postroom")
PORTS = {"smtp": 25, "pop3": 110, "imap": 143, "submission": 587, "imaps": 993, "pop3s": 995, "smtps": 465}


def installed_version():
    return run("dpkg-query", "-W", "-f=${Status} ${Version}", "postroom", check=False).stdout


@pytest.fixture(scope="module")
def package():
    if "install ok installed" in installed_version():
        run("apt-get", "purge", "-y", "postroom")
    out = run("apt-get", "install", "-y", "--no-install-recommends", newest_bundle("deb")).stdout
    yield out
    if "install ok" in installed_version() or "config-files" in installed_version():
        run("apt-get", "purge", "-y", "postroom", check=False)


def as_postroom(*args, input=None):
    return run("runuser", "-u", "postroom", "--", "/usr/bin/postroomd", "--data-dir", str(DATA), *args, input=input)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_the_package_puts_every_part_in_place_with_the_right_owners_and_rights(package):
    assert "the mail server service is installed but not enabled" in package, package
    files = set(run("dpkg", "-L", "postroom").stdout.split())
    for path in ["/usr/bin/postroom", "/usr/bin/postroomd", "/usr/lib/postroom/webkit/libpostroom_webext.so", "/usr/share/polkit-1/actions/org.postroom.postroomd.policy", "/usr/share/applications/Postroom.desktop",
                 "/usr/share/man/man8/postroomd.8.gz", "/usr/share/man/man8/postroomd-serve.8.gz",
                 "/lib/systemd/system/postroomd.service"]:
        assert path in files, f"{path} not in the package"
        assert os.path.exists(path), path
    assert any(p.startswith("/usr/share/icons/hicolor/") and p.endswith("/apps/postroom.png") for p in files)
    desktop = Path("/usr/share/applications/Postroom.desktop").read_text()
    assert "Exec=postroom" in desktop and "Icon=postroom" in desktop, desktop
    assert b".TH postroomd 8" in run("zcat", "/usr/share/man/man8/postroomd.8.gz").stdout.encode()

    user = pwd.getpwnam("postroom")
    assert user.pw_uid < 1000, "a system user"
    assert user.pw_shell.endswith("nologin")
    st = os.stat(DATA)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == user.pw_uid, (oct(st.st_mode), st.st_uid)
    assert "cap_net_bind_service=ep" in run("getcap", "/usr/bin/postroomd").stdout

    commit = run("git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD").stdout.strip()
    version = run("/usr/bin/postroom", "--version").stdout.strip()
    assert version.startswith("postroom 0.") and f"(commit {commit})" in version, (version, commit)
    assert run("/usr/bin/postroomd", "--version").stdout.strip() == version.replace("postroom ", "postroomd ")


def test_the_systemd_unit_verifies_and_is_hardened(package):
    unit = "/lib/systemd/system/postroomd.service"
    verified = run("systemd-analyze", "verify", unit, check=False)
    ours = [line for line in (verified.stdout + verified.stderr).splitlines() if "postroomd.service" in line]
    assert verified.returncode == 0 and not ours, verified.stdout + verified.stderr
    text = Path(unit).read_text()
    for line in ["User=postroom", "RuntimeDirectory=postroomd", "RuntimeDirectoryMode=0755",
                 "ExecStart=/usr/bin/postroomd serve --data-dir /var/lib/postroom --admin-socket /run/postroomd/admin.sock --admin-group postroom",
                 "ProtectSystem=strict", "ReadWritePaths=/var/lib/postroom", "NoNewPrivileges=yes",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "Restart=on-failure"]:
        assert line in text.splitlines(), line
    enabled = run("systemctl", "is-enabled", "postroomd", check=False).stdout.strip()
    assert enabled in ("disabled", ""), f"not enabled until the admin chooses it: {enabled}"


def test_postroomd_serves_the_standard_ports_as_the_postroom_user_and_a_message_goes_through(package):
    busy = [f"{name} ({port})" for name, port in PORTS.items() if listening(port)]
    assert not busy, f"another program holds the standard ports: {', '.join(busy)}"
    as_postroom("settings", "set", "general.server_name", "mail.office.test")
    as_postroom("domain", "add", "office.test")
    as_postroom("user", "add", "ann", "--password-stdin", input="ann-secret-1\n")
    server = subprocess.Popen(["runuser", "-u", "postroom", "--", "/usr/bin/postroomd", "serve", "--data-dir", str(DATA)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not all(listening(p) for p in PORTS.values()):
            assert server.poll() is None, server.stderr.read()
            assert time.time() < deadline, "the standard ports did not open"
            time.sleep(0.2)
        daemons = run("pgrep", "-u", "postroom", "-x", "postroomd").stdout.split()
        assert len(daemons) == 1, "postroomd itself runs as the postroom user"

        with smtplib.SMTP("127.0.0.1", 25, timeout=10) as s:
            s.sendmail("bob@far.example", ["ann@office.test"],
                       "From: Bob <bob@far.example>\r\nTo: ann@office.test\r\nSubject: installed\r\n\r\nhello\r\n")
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        imap = imaplib.IMAP4_SSL("127.0.0.1", 993, ssl_context=tls, timeout=10)
        imap.login("ann", "ann-secret-1")
        imap.select("INBOX")
        _, data = imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"Subject: installed" in data[0][1], data
        imap.logout()
        pop = poplib.POP3_SSL("127.0.0.1", 995, context=tls, timeout=10)
        pop.user("ann")
        pop.pass_("ann-secret-1")
        assert pop.stat()[0] == 1
        pop.quit()
        assert (DATA / "postroom.db").stat().st_uid == pwd.getpwnam("postroom").pw_uid
    finally:
        # SIGTERM to postroomd itself (as systemd would send it): a graceful stop, exit status 0.
        for pid in run("pgrep", "-u", "postroom", "-x", "postroomd", check=False).stdout.split():
            os.kill(int(pid), 15)
        assert server.wait(30) == 0, server.stderr.read()


ASK = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("/run/postroomd/admin.sock")
s.sendall(b'{"id": 1, "call": "get_engine_identity"}\\n')
print(s.makefile().readline())
"""


def test_the_services_admin_socket_is_for_the_postroom_group_and_the_installed_app_attaches_to_it(package):
    """As systemd runs the unit: /run/postroomd made for the service (RuntimeDirectory), postroomd serving
    with the unit's --admin-socket and --admin-group. Members of the postroom group reach it — one added
    after its session began too (no new login: the server asks the user database) — others are refused;
    the installed desktop app, started with no arguments, attaches to the service instead of starting an
    engine."""
    run("install", "-d", "-o", "postroom", "-g", "postroom", "-m", "0755", "/run/postroomd")
    server = subprocess.Popen(["runuser", "-u", "postroom", "--", "/usr/bin/postroomd", "serve", "--data-dir", str(DATA),
                               "--admin-socket", "/run/postroomd/admin.sock", "--admin-group", "postroom"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    admin, stranger = "pr-office-admin", "pr-stranger"
    try:
        deadline = time.time() + 30
        while not os.path.exists("/run/postroomd/admin.sock"):
            assert server.poll() is None, server.stderr.read()
            assert time.time() < deadline, "the admin socket did not appear"
            time.sleep(0.2)
        sock = os.stat("/run/postroomd/admin.sock")
        assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o666
        assert pwd.getpwuid(sock.st_uid).pw_name == "postroom"

        run("useradd", "--no-create-home", admin)
        run("useradd", "--no-create-home", stranger)
        pid = run("pgrep", "-u", "postroom", "-x", "postroomd").stdout.split()[0]
        as_admin = ["setpriv", f"--reuid={admin}", f"--regid={admin}", "--clear-groups", "/usr/bin/python3", "-c", ASK]
        before = json.loads(run(*as_admin).stdout)
        assert before["error"]["code"] == "forbidden" and "postroom group" in before["error"]["message"], before
        # Joined now; the process asking still carries no groups, as a desktop session begun earlier.
        run("gpasswd", "-a", admin, "postroom")
        answer = json.loads(run(*as_admin).stdout)
        assert answer["ok"]["pid"] == int(pid) and answer["ok"]["data_dir"] == str(DATA), answer
        refused = json.loads(run("runuser", "-u", stranger, "--", "/usr/bin/python3", "-c", ASK).stdout)
        assert refused["error"]["code"] == "forbidden", refused

        assert os.environ.get("DISPLAY") and shutil.which("tauri-driver"), "run under xvfb-run with tauri-driver (scripts/test.sh does)"
        attached_app_says_so(int(pid), [])
        # Named by its folder, which the service holds: the app finds the service's socket all the same.
        attached_app_says_so(int(pid), ["--data-dir", str(DATA)])
    finally:
        for pid in run("pgrep", "-u", "postroom", "-x", "postroomd", check=False).stdout.split():
            os.kill(int(pid), 15)
        assert server.wait(30) == 0, server.stderr.read()
        assert not os.path.exists("/run/postroomd/admin.sock"), "a clean stop removes the socket"
        for user in (admin, stranger):
            run("userdel", user, check=False)


def attached_app_says_so(pid, args):
    """/usr/bin/postroom with `args`, under WebDriver: its main window names the service."""
    from selenium import webdriver
    from selenium.webdriver.common.options import ArgOptions

    own = os.path.expanduser("~/.local/share/postroom/postroom.db")
    had_own = os.path.exists(own)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver_proc = subprocess.Popen(["tauri-driver", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not listening(port):
            assert time.time() < deadline, "tauri-driver did not start"
            time.sleep(0.2)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": "/usr/bin/postroom", "args": args})
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
        try:
            line = ""
            deadline = time.time() + 30
            while f"(pid {pid}," not in line:
                assert time.time() < deadline, f"the main window never said it is attached: {line!r}"
                time.sleep(0.3)
                line = driver.execute_script("const e = document.querySelector('#engine-link'); return e ? e.innerText : '';")
            assert "Attached to the postroomd service" in line and "serving /var/lib/postroom" in line, line
            assert "through /run/postroomd/admin.sock" in line, line
            assert not os.path.exists(own) or had_own, "the app started no engine of its own"
        finally:
            driver.quit()
    finally:
        driver_proc.terminate()
        driver_proc.wait(10)


def test_removing_keeps_the_mail_and_purging_deletes_it_after_saying_so(package):
    removed = run("apt-get", "remove", "-y", "postroom")
    assert "are kept" in removed.stdout, removed.stdout
    assert not os.path.exists("/usr/bin/postroomd")
    assert (DATA / "postroom.db").exists(), "the mail is still there"
    purged = run("apt-get", "purge", "-y", "postroom")
    assert "deleting the mail and settings in /var/lib/postroom" in purged.stdout, purged.stdout
    assert not DATA.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam("postroom")
