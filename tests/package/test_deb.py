"""The .deb as an admin installs it (built by scripts/package.sh first): apt installs it with its
dependencies; the programs, desktop entry, icon, man pages and systemd unit are where they belong; the
postroom user, /var/lib/postroom (0700) and postroomd's right to use ports below 1024 are set up; the unit
passes `systemd-analyze verify`; postroomd runs from /usr/bin as the postroom user on the standard ports and
a message goes in over SMTP and comes out over IMAPS and POP3S; removing keeps the mail, purging deletes it.

Runs as root and changes the machine (the package is purged again at the end). The tests run in order."""

import glob
import imaplib
import os
import poplib
import pwd
import smtplib
import socket
import ssl
import stat
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path("/var/lib/postroom")
PORTS = {"smtp": 25, "pop3": 110, "imap": 143, "submission": 587, "imaps": 993, "pop3s": 995, "smtps": 465}


def run(*args, check=True, input=None):
    return subprocess.run(args, capture_output=True, text=True, check=check, input=input, timeout=600)


def deb():
    found = sorted(glob.glob(str(ROOT / "target/release/bundle/deb/*.deb")), key=os.path.getmtime)
    assert found, "no .deb: run scripts/package.sh first"
    return found[-1]


def installed_version():
    return run("dpkg-query", "-W", "-f=${Status} ${Version}", "postroom", check=False).stdout


@pytest.fixture(scope="module")
def package():
    if "install ok installed" in installed_version():
        run("apt-get", "purge", "-y", "postroom")
    out = run("apt-get", "install", "-y", "--no-install-recommends", deb()).stdout
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
    for path in ["/usr/bin/postroom", "/usr/bin/postroomd", "/usr/share/applications/Postroom.desktop",
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
    for line in ["User=postroom", "ExecStart=/usr/bin/postroomd serve --data-dir /var/lib/postroom",
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
