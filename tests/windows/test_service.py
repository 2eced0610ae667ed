"""The Windows system service, under Wine: postroomd.exe (cross-built for x86_64-pc-windows-gnu) installed
under Program Files in a fresh Wine prefix, `postroomd service enable --from` moving a desktop folder into
the service the Service Control Manager runs, mail sent and read over real sockets, the admin API over the
service's named pipe, a "reboot" (the Wine session shut down and booted again) after which the service
starts by itself, and `service disable --to` bringing the mail back.

Wine runs every program as one user who is an administrator, so two things a real Windows shows are not
shown here: the refusal of a user the pipe's access list leaves out, and the refusal of an unelevated
`enable`.
"""

import imaplib
import json
import os
import poplib
import shutil
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from package.conftest import ROOT, answers as greets, wait_for  # noqa: E402

EXE = ROOT / "target/x86_64-pc-windows-gnu/debug/postroomd.exe"
INSTALLED = r"C:\Program Files\Postroom\postroomd.exe"
DESKTOP = r"C:\Office mail"
SERVICES = ["smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Wine:
    """A Wine prefix: a Windows computer with its own C: drive, booted while `wineserver -p` runs."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
        self.env.pop("DISPLAY", None)

    def drive(self, windows_path):
        """The Linux path of a C:\\ path."""
        return self.prefix / "drive_c" / windows_path[3:].replace("\\", "/")

    def create(self):
        """Makes the prefix (C: drive, registry, system folders), and waits until Wine is done."""
        subprocess.run(["wine", "wineboot", "--init"], env=self.env, check=True, capture_output=True, timeout=300)
        subprocess.run(["wineserver", "-w"], env=self.env, timeout=120)

    def boot(self):
        subprocess.run(["wineserver", "-p"], env=self.env, check=True, timeout=60)
        # Not captured: the services it starts would hold the pipes open.
        subprocess.run(["wine", "wineboot"], env=self.env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)

    def shut_down(self):
        subprocess.run(["wineserver", "-k"], env=self.env, timeout=60)
        subprocess.run(["wineserver", "-w"], env=self.env, timeout=60)

    def run(self, *args, program=INSTALLED, input=None, check=True, timeout=300):
        done = subprocess.run(["wine", program, *args], env=self.env, capture_output=True, text=True, input=input, timeout=timeout)
        if check:
            assert done.returncode == 0, f"postroomd {' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}"
        return done

    def registered(self):
        """The postroomd service's values in the registry, as the Service Control Manager keeps them; None if it has none."""
        done = subprocess.run(["wine", "reg", "query", r"HKLM\System\CurrentControlSet\Services\postroomd"], env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return None
        values = {}
        for line in done.stdout.splitlines():
            parts = line.strip().split(None, 2)
            if len(parts) == 3 and parts[1].startswith("REG_"):
                values[parts[0]] = parts[2]
        return values

    def postroomd(self, *args, **kw):
        return self.run(*args, **kw).stdout


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    assert EXE.exists(), "cross-build postroomd.exe first: cargo build --target x86_64-pc-windows-gnu -p postroom-engine --bin postroomd"
    machine = Wine(tmp_path_factory.mktemp("wine") / "prefix")
    machine.create()
    subprocess.run(
        ["x86_64-w64-mingw32-gcc", "-O2", "-shared", "-o", str(machine.drive(r"C:\windows\system32\bcryptprimitives.dll")),
         str(ROOT / "tests/windows/bcryptprimitives.c"), "-ladvapi32"],
        check=True,
    )
    installed = machine.drive(INSTALLED)
    installed.parent.mkdir(parents=True)
    shutil.copy(EXE, installed)
    machine.boot()
    yield machine
    machine.shut_down()


def read_inbox(ports, user, password):
    """The subjects in the user's INBOX, over IMAP."""
    imap = imaplib.IMAP4("127.0.0.1", ports["imap"])
    try:
        imap.login(user, password)
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK"
        if data[0] == b"0":
            return []
        typ, fetched = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        return [part[1].decode().strip() for part in fetched if isinstance(part, tuple)]
    finally:
        imap.logout()


def send(ports, subject, body="hello"):
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30) as s:
        s.sendmail("bob@far.example", ["alice@office.test"], f"From: bob@far.example\r\nSubject: {subject}\r\n\r\n{body}\r\n")


def serve_desktop(wine, ports):
    """The desktop's own postroomd serving DESKTOP, until it is killed."""
    process = subprocess.Popen(["wine", INSTALLED, "--data-dir", DESKTOP, "serve"], env=wine.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: greets(ports["smtp"]).startswith(b"220"), "the desktop postroomd's SMTP greeting")
    return process


def stop(process):
    process.kill()
    process.wait(timeout=60)


def test_the_switch_moves_a_desktop_folder_into_the_windows_service_which_starts_with_the_computer_and_back(wine):
    ports = {name: free_port() for name in SERVICES}
    wine.postroomd("--data-dir", DESKTOP, "domain", "add", "office.test")
    wine.postroomd("--data-dir", DESKTOP, "user", "add", "alice", "--password-stdin", input="secret-pw-1\n")
    for name, port in ports.items():
        wine.postroomd("--data-dir", DESKTOP, "settings", "set", f"services.{name}.port", str(port))

    desktop = serve_desktop(wine, ports)
    send(ports, "before the move")
    assert read_inbox(ports, "alice", "secret-pw-1") == ["Subject: before the move"]
    stop(desktop)

    status = json.loads(wine.postroomd("service", "status", "--json"))
    assert status == {"available": True, "why_not": None, "enabled": False, "active": False,
                      "data_dir": r"C:\ProgramData\Postroom", "socket": r"\\.\pipe\postroomd-service"}

    enabled = wine.postroomd("service", "enable", "--from", DESKTOP)
    assert f"copying {DESKTOP} to C:\\ProgramData\\Postroom" in enabled, enabled
    assert "the mail server runs as the system service (pid" in enabled and "starts with the computer" in enabled, enabled
    # (Wine's netsh accepts the firewall rule and keeps nothing: that it was asked, and did not fail, is what shows.)
    assert "letting the office's computers reach it through Windows Firewall" in enabled and "Windows Firewall was not changed" not in enabled, enabled
    status = json.loads(wine.postroomd("service", "status", "--json"))
    assert (status["enabled"], status["active"]) == (True, True)
    # As the Service Control Manager keeps it: started with the computer (Start 2), as LocalService,
    # the installed program serving the service's folder, the admin who turned it on named by SID.
    registered = wine.registered()
    assert registered["Start"] == "0x2" and registered["ObjectName"] == r"NT AUTHORITY\LocalService", registered
    assert registered["ImagePath"].startswith(f'"{INSTALLED}" --data-dir C:\\ProgramData\\Postroom service run --admin-sid S-1-5-21-'), registered

    # The desktop's folder is marked as moved: its own postroomd refuses to serve it.
    marker = json.loads(wine.drive(DESKTOP + r"\moved-away.json").read_text())
    assert marker["to"] == r"C:\ProgramData\Postroom" and marker["by"] == "service"
    refused = wine.run("--data-dir", DESKTOP, "serve", check=False)
    assert refused.returncode == 1 and "C:\\ProgramData\\Postroom" in refused.stderr, refused.stderr

    # The service serves the moved mail on the folder's ports, and takes new mail.
    assert greets(ports["smtp"]).startswith(b"220")
    # 300 KB: stored as a file of its own, not in the database (on Windows that once failed).
    send(ports, "to the service", body=("x" * 76 + "\r\n") * 4000)
    wait_for(lambda: len(read_inbox(ports, "alice", "secret-pw-1")) == 2, "the second message in the service's INBOX")
    assert read_inbox(ports, "alice", "secret-pw-1") == ["Subject: before the move", "Subject: to the service"]

    # The admin API over the service's named pipe, as the app attaches.
    identity = json.loads(wine.postroomd("service", "call", "get_engine_identity"))
    assert identity["program"] == "postroomd" and identity["data_dir"] == r"C:\ProgramData\Postroom", identity
    users = json.loads(wine.postroomd("service", "call", "list_users"))
    assert [u["name"] for u in users] == ["alice"], users
    # Nobody else can take the service's pipe name while it serves.
    listen = [arg for name in SERVICES for arg in ("--listen", f"{name}=127.0.0.1:{free_port()}")]
    squatter = wine.run("--data-dir", r"C:\other", "serve", "--admin-socket", r"\\.\pipe\postroomd-service", *listen, check=False, timeout=60)
    assert squatter.returncode == 1 and r"another Postroom answers on the named pipe \\.\pipe\postroomd-service" in squatter.stderr, squatter.stderr

    # "Restart the computer": everything stops; at boot the Service Control Manager starts the service.
    wine.shut_down()
    assert greets(ports["imap"]) == b""
    wine.boot()
    wait_for(lambda: greets(ports["imap"]).startswith(b"* OK"), "the service to start with the computer", timeout=60)
    assert read_inbox(ports, "alice", "secret-pw-1") == ["Subject: before the move", "Subject: to the service"]

    # As the app does it: Windows asked for administrator rights (ShellExecuteEx "runas"; Wine grants
    # them without a prompt), the elevated run's steps followed over a named pipe and printed here.
    failed = wine.run("service", "enable", "--from", r"C:\no such folder", "--elevate", check=False)
    assert failed.returncode == 1 and "postroomd: cannot find C:\\no such folder" in failed.stderr, failed.stdout + failed.stderr
    disabled = wine.postroomd("service", "disable", "--to", DESKTOP, "--elevate")
    assert "stopping the service…" in disabled and f"copying C:\\ProgramData\\Postroom to {DESKTOP}…" in disabled, disabled
    assert f"its mail is back in {DESKTOP}" in disabled, disabled
    status = json.loads(wine.postroomd("service", "status", "--json"))
    assert (status["enabled"], status["active"]) == (False, False)
    assert wine.registered() is None, "the service is removed from the Service Control Manager"
    assert greets(ports["smtp"]) == b""

    # The desktop serves the mail again, the message the service took included.
    desktop = serve_desktop(wine, ports)
    try:
        assert read_inbox(ports, "alice", "secret-pw-1") == ["Subject: before the move", "Subject: to the service"]
        pop = poplib.POP3("127.0.0.1", ports["pop3"])
        pop.user("alice")
        pop.pass_("secret-pw-1")
        assert pop.stat()[0] == 2
        pop.quit()
    finally:
        stop(desktop)
    assert json.loads(wine.drive(r"C:\ProgramData\Postroom\moved-away.json").read_text())["to"] == DESKTOP


def test_only_a_copy_installed_under_program_files_may_become_the_service(wine):
    loose = r"C:\users\Public\postroomd.exe"
    shutil.copy(EXE, wine.drive(loose))
    status = json.loads(wine.postroomd("service", "status", "--json", program=loose))
    assert status["available"] is False and "install Postroom with its installer" in status["why_not"], status
    refused = wine.run("service", "enable", program=loose, check=False)
    assert refused.returncode == 1 and "under Program Files" in refused.stderr, refused.stderr
    assert wine.registered() is None, "nothing was registered"


def test_the_engines_unit_tests_pass_on_windows(wine):
    """The engine's own unit tests (all of them), cross-built and run under Wine."""
    built = subprocess.run(
        ["cargo", "test", "--target", "x86_64-pc-windows-gnu", "-p", "postroom-engine", "--lib", "--no-run", "--message-format=json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=1800,
    )
    executables = [json.loads(line).get("executable") for line in built.stdout.splitlines() if line.startswith("{")]
    executable = next(e for e in executables if e)
    done = subprocess.run(["wine", executable], env=wine.env, capture_output=True, text=True, timeout=600)
    summary = [line for line in done.stdout.splitlines() if line.startswith("test result:")]
    print("\n".join(summary))
    assert done.returncode == 0 and summary and " 0 failed" in summary[-1], done.stdout[-4000:] + done.stderr[-2000:]
    assert int(summary[-1].split(". ")[1].split()[0]) >= 200, summary


def test_a_service_that_cannot_open_its_folder_says_why_at_once_and_is_taken_back(wine):
    # The service's folder was moved back to a desktop folder earlier (`disable --to`): turning the
    # service on without --from must not serve it, and must say so instead of waiting.
    folder = wine.drive(r"C:\ProgramData\Postroom")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "moved-away.json").write_text(json.dumps({"to": DESKTOP, "at": 1_700_000_000, "by": "desktop"}))
    refused = wine.run("service", "enable", check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the service did not start, so nothing was changed: it stopped at once: the Postroom service stopped:" in refused.stderr, refused.stderr
    assert DESKTOP in refused.stderr, "the reason names where the mail went: " + refused.stderr
    assert wine.registered() is None, "the service is taken back out"
    (folder / "moved-away.json").unlink()


def test_the_installers_hooks_compile_with_makensis(tmp_path):
    """packaging/windows/installer-hooks.nsh, which the Tauri bundler puts into the NSIS installer, in an
    installer of the same kind (Unicode, every hook in its place). NSIS installers are 32-bit programs,
    and this Wine is 64-bit only: compiled here, not run."""
    config = json.loads((ROOT / "tauri.conf.json").read_text())
    hooks = ROOT / config["bundle"]["windows"]["nsis"]["installerHooks"]
    script = tmp_path / "hooks.nsi"
    script.write_text(
        "Unicode true\n"
        f'!include "{hooks}"\n'
        'Name "Postroom hooks"\n'
        f'OutFile "{tmp_path / "hooks.exe"}"\n'
        "RequestExecutionLevel admin\n"
        'InstallDir "$PROGRAMFILES64\\Postroom"\n'
        "Section\n  !insertmacro NSIS_HOOK_PREINSTALL\n  !insertmacro NSIS_HOOK_POSTINSTALL\n"
        '  WriteUninstaller "$INSTDIR\\uninstall.exe"\nSectionEnd\n'
        'Section "Uninstall"\n  !insertmacro NSIS_HOOK_PREUNINSTALL\n  !insertmacro NSIS_HOOK_POSTUNINSTALL\nSectionEnd\n'
    )
    built = subprocess.run(["makensis", "-V2", "-WX", str(script)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "hooks.exe").read_bytes()[:2] == b"MZ"
    assert "service disable" in hooks.read_text(), "uninstalling removes the service first"
