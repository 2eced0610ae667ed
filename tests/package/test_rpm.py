"""The .rpm, installed on this Debian machine with rpm itself (its own database; `--nodeps` because the RPM
dependency names are not in it): the files land where an RPM distribution puts them, its %post scriptlet
makes the postroom user, /var/lib/postroom (0700) and postroomd's right to use ports below 1024, postroomd
serves SMTP on port 25 as that user, and `rpm -e` removes the programs and keeps the mail, saying where.

Runs after test_deb.py (which purges the .deb) and cleans up the same way. Not a test on Fedora or SUSE:
their own rpm and systemd presets may differ."""

import os
import pwd
import socket
import stat
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, newest_bundle, run

DATA = Path("/var/lib/postroom")


def installed():
    return run("rpm", "-q", "postroom", check=False).returncode == 0


def clean_machine():
    if installed():
        run("rpm", "-e", "--nodeps", "postroom", check=False)
    run("userdel", "postroom", check=False)
    run("rm", "-rf", str(DATA))


@pytest.fixture(scope="module")
def package():
    assert not os.path.exists("/usr/bin/postroomd"), "the .deb is still installed (test_deb.py purges it)"
    clean_machine()
    out = run("rpm", "-i", "--nodeps", newest_bundle("rpm"))
    yield out.stdout + out.stderr
    clean_machine()


def test_the_rpm_installs_its_files_user_folder_and_capability_and_serves_as_the_postroom_user(package):
    assert "the service is installed but not enabled" in package, package
    assert "attaches to it for members of the postroom group" in package, package
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert run("rpm", "-q", "--queryformat", "%{VERSION}", "postroom").stdout == version
    for path in ["/usr/bin/postroom", "/usr/bin/postroomd", "/usr/lib/postroom/webkit/libpostroom_webext.so", "/usr/share/polkit-1/actions/org.postroom.postroomd.policy", "/usr/lib/systemd/system/postroomd.service",
                 "/usr/share/applications/Postroom.desktop", "/usr/share/man/man8/postroomd-serve.8.gz"]:
        assert os.path.exists(path), path
    assert stat.S_IMODE(os.stat("/usr/bin/postroomd").st_mode) == 0o755
    assert "cap_net_bind_service=ep" in run("getcap", "/usr/bin/postroomd").stdout
    deb_unit = (ROOT / "packaging/linux/postroomd.service").read_text()
    assert Path("/usr/lib/systemd/system/postroomd.service").read_text() == deb_unit, "the same unit as the .deb"
    user = pwd.getpwnam("postroom")
    folder = os.stat(DATA)
    assert folder.st_uid == user.pw_uid and stat.S_IMODE(folder.st_mode) == 0o700

    port = 25
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "port 25 is taken"
    server = subprocess.Popen(["runuser", "-u", "postroom", "--", "/usr/bin/postroomd", "serve", "--data-dir", str(DATA)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    greeting = s.makefile("rb").readline().decode()
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.time() < deadline, "port 25 never opened"
                time.sleep(0.2)
        assert greeting.startswith("220 ") and "Postroom" in greeting, greeting
    finally:
        for pid in run("pgrep", "-u", "postroom", "-x", "postroomd", check=False).stdout.split():
            os.kill(int(pid), 15)
        assert server.wait(30) == 0, server.stderr.read()
    assert (DATA / "postroom.db").stat().st_uid == user.pw_uid

    removed = run("rpm", "-e", "--nodeps", "postroom")
    assert "are kept" in removed.stdout + removed.stderr, removed
    assert not os.path.exists("/usr/bin/postroomd")
    assert (DATA / "postroom.db").exists(), "the mail is still there"
