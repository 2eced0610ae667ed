"""The AppImage (scripts/appimage.sh) on a computer that has never had Postroom's libraries: a Debian 12
with only what the AppImage expects of its host (the C library, graphics drivers, X client libraries,
fonts; no GTK, no WebKit, no libsoup), made once with debootstrap under /var/tmp. The AppImage is started
there by an ordinary user under this machine's Xvfb: it unpacks itself once into the user's cache, every
library its programs need resolves inside it, the main window comes up, its web process loads the web
process extension, and mail goes in over SMTP and out over IMAP. The AppImage's own options
(--appimage-offset, --appimage-extract, --appimage-version) answer as AppImage runtimes do.

Needs root, the Debian mirror and a display (scripts/test.sh runs it under xvfb-run)."""

import glob
import imaplib
import os
import shutil
import smtplib
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, answers, run, wait_for

HOME = Path("/var/tmp/postroom-appimage")
BASE = HOME / "base"
MIRROR = "http://deb.debian.org/debian"
# What a desktop Linux has and the AppImage leaves to it (scripts/appimage.sh's host list), and the
# tools the test uses inside.
HOST_PACKAGES = ["libc6", "libstdc++6", "libgl1", "libegl1", "libgles2", "libegl-mesa0", "libgl1-mesa-dri", "libgbm1", "libdrm2",
                 "libvulkan1", "libx11-6", "libx11-xcb1", "libxcb1", "libasound2", "libfontconfig1", "libfreetype6",
                 "libharfbuzz0b", "fonts-dejavu-core", "libexpat1", "zlib1g", "libuuid1", "libcom-err2",
                 "libgpg-error0", "libice6", "libsm6", "libusb-1.0-0", "libp11-kit0", "dbus", "procps"]
SERVICES = {"smtp": 12025, "submission": 12587, "smtps": 12465, "pop3": 12110, "pop3s": 12995, "imap": 12143, "imaps": 12993}


def appimage():
    found = sorted(glob.glob(str(ROOT / "target/release/bundle/appimage/*.AppImage")), key=os.path.getmtime)
    assert found, "no AppImage: run scripts/package.sh first"
    return Path(found[-1])


def ensure_base():
    wanted = " ".join(HOST_PACKAGES)
    ready = BASE / ".postroom-host"
    if ready.exists() and ready.read_text() == wanted:
        return
    if not (BASE / "usr/bin/apt-get").exists():
        shutil.rmtree(BASE, ignore_errors=True)
        BASE.parent.mkdir(parents=True, exist_ok=True)
        run("debootstrap", "--variant=minbase", "bookworm", str(BASE), MIRROR)
    run("systemd-nspawn", "-q", "-D", str(BASE), "--register=no", "--keep-unit", "-E", "DEBIAN_FRONTEND=noninteractive",
        "sh", "-c", f"apt-get update -qq && apt-get install -y -qq --no-install-recommends {wanted}")
    ready.write_text(wanted)


def x_cookie():
    """The display's cookie, readable by the user in the tree (xvfb-run's file is root's, 0600)."""
    cookie = HOME / "xauth"
    cookie.unlink(missing_ok=True)
    cookie.write_bytes(b"")
    if os.environ.get("XAUTHORITY"):
        # The tree has a host name of its own: the cookie is given for any host (family "wild", ffff).
        entries = run("xauth", "-f", os.environ["XAUTHORITY"], "nlist").stdout.splitlines()
        run("xauth", "-f", str(cookie), "nmerge", "-", input="".join("ffff" + e[4:] + "\n" for e in entries))
    cookie.chmod(0o644)
    return cookie


def inside(*command, user="ann", check=True, background=False, input=None):
    """Runs a command in the Debian tree as `user` (a container of its own each time: its processes end
    with the command), with this machine's X display and network."""
    home = "/root" if user == "root" else f"/home/{user}"
    args = ["systemd-nspawn", "-q", "-D", str(BASE), "--register=no", "--keep-unit", "--as-pid2", "--pipe",
            f"--user={user}", f"--chdir={home}", "--bind-ro=/tmp/.X11-unix", f"--bind-ro={appimage()}:/opt/Postroom.AppImage",
            f"--bind-ro={x_cookie()}:/tmp/xauth", "--setenv=XAUTHORITY=/tmp/xauth",
            f"--setenv=DISPLAY={os.environ['DISPLAY']}", f"--setenv=HOME={home}", *command]
    if background:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=open(HOME / "app.log", "w"), stderr=subprocess.STDOUT)
    done = run(*args, check=False, input=input)
    if check:
        assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def test_the_appimage_answers_the_appimage_options():
    image = appimage()
    head = image.read_bytes()[:16]
    assert head[:4] == b"\x7fELF" and head[8:11] == b"AI\x02", "an AppImage type 2: ELF with the magic at byte 8"
    offset = int(run(str(image), "--appimage-offset").stdout)
    with open(image, "rb") as f:
        f.seek(offset)
        assert f.read(4) == b"hsqs", "the SquashFS image starts where the runtime says"
    version = run("sed", "-n", 's/^version = "\\(.*\\)"/\\1/p', str(ROOT / "Cargo.toml")).stdout.split()[0]
    assert run(str(image), "--appimage-version").stdout.strip() == version
    work = HOME / "extract"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run([str(image), "--appimage-extract"], cwd=work, check=True, capture_output=True, timeout=300)
    root = work / "squashfs-root"
    for path in ["AppRun", "postroom.desktop", "usr/bin/postroom", "usr/bin/postroomd",
                 "usr/lib/postroom/webkit/libpostroom_webext.so", "usr/lib/libwebkit2gtk-4.1.so.0",
                 "usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/WebKitWebProcess"]:
        assert (root / path).exists(), path
    assert os.access(root / "usr/bin/postroom", os.X_OK)
    assert "Exec=postroom" in (root / "postroom.desktop").read_text()
    bad = run(str(image), "--appimage-nonsense", check=False)
    assert bad.returncode == 1 and "unknown option --appimage-nonsense" in bad.stderr
    shutil.rmtree(work)


def test_a_damaged_appimage_says_so_and_leaves_nothing_half_unpacked(tmp_path):
    image = appimage()
    data = image.read_bytes()
    offset = int(run(str(image), "--appimage-offset").stdout)
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    # A download cut short, a runtime with nothing after it, and a SquashFS whose tables point past its end.
    broken_tables = bytearray(data)
    broken_tables[offset + 64:offset + 96] = b"\xff" * 32
    for name, content in [("cut", data[:offset + (len(data) - offset) // 2]), ("bare", data[:offset]),
                          ("tables", bytes(broken_tables))]:
        damaged = tmp_path / f"{name}.AppImage"
        damaged.write_bytes(content)
        damaged.chmod(0o755)
        done = subprocess.run([str(damaged), "postroomd", "--version"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, f"{name}: {done.returncode} {done.stderr}"  # an error, not a crash (101)
        assert "Postroom AppImage:" in done.stderr and ("damaged" in done.stderr or "cut short" in done.stderr), done.stderr
        root = tmp_path / "cache/postroom/appimage"
        assert not [p for p in root.iterdir() if p.name != ".lock"], f"{name}: something was left in the cache"


def test_the_runtime_unpacks_once_removes_what_nobody_runs_and_keeps_its_cache_to_itself(tmp_path):
    image = appimage()
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    root = tmp_path / "cache/postroom/appimage"
    older = root / "0.0.1-0123456789abcdef"  # another version's copy, not running
    older.mkdir(parents=True)
    (older / "AppRun").write_text("#!/bin/sh\n")
    dead = root / ".0.0.1-0123456789abcdef.999999999"  # left by a start that died while unpacking
    dead.mkdir()
    first = subprocess.run([str(image), "postroomd", "--version"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and first.stdout.startswith("postroomd "), first.stderr
    assert "unpacking the AppImage" in first.stderr
    assert not older.exists() and not dead.exists()
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == [next(root.glob("[0-9]*")).name]
    second = subprocess.run([str(image), "postroomd", "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert second.stdout == first.stdout and "unpacking" not in second.stderr
    # Programs run from the cache, so a cache folder others may write to is refused.
    root.chmod(0o777)
    refused = subprocess.run([str(image), "postroomd", "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "must be your own folder, writable by nobody else" in refused.stderr


@pytest.mark.timeout(900)  # the first run makes the Debian tree (debootstrap: a few minutes)
def test_the_appimage_runs_postroom_on_a_debian_without_gtk_or_webkit():
    from Xlib import display as xdisplay

    ensure_base()
    for absent in ["libgtk-3-0", "libwebkit2gtk-4.1-0", "libjavascriptcoregtk-4.1-0", "libsoup-3.0-0", "libayatana-appindicator3-1"]:
        status = inside("dpkg-query", "-W", "-f=${Status}", absent, user="root", check=False).stdout
        assert "install ok installed" not in status, f"{absent} must not be on the test's host"
    inside("sh", "-c", "id ann || useradd -m ann", user="root")
    inside("sh", "-c", "rm -rf /home/ann/.cache /home/ann/mail", user="root")

    # postroomd from the AppImage sets up a data folder (the first start unpacks the AppImage).
    first = inside("/opt/Postroom.AppImage", "postroomd", "--data-dir", "mail", "user", "add", "ann", "--password-stdin",
                   input="ann-secret-1\n")
    assert "unpacking the AppImage into /home/ann/.cache/postroom/appimage/" in first.stderr, first.stderr
    settings = [x for s, p in SERVICES.items() for x in (f"services.{s}.port", str(p), f"services.{s}.bind_address", "127.0.0.1")]
    again = inside("/opt/Postroom.AppImage", "postroomd", "--data-dir", "mail", "settings", "set", *settings)
    assert "unpacking" not in again.stderr, "unpacked once only"
    unpacked = inside("sh", "-c", "ls -d /home/ann/.cache/postroom/appimage/*/").stdout.split()
    assert len(unpacked) == 1
    assert inside("stat", "-c", "%a %U", "/home/ann/.cache/postroom/appimage").stdout.split() == ["700", "ann"]
    # Every library of every program in it resolves on this host.
    missing = inside("sh", "-c", f"cd {unpacked[0]} && for f in usr/bin/* usr/lib/*.so* usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/WebKit* "
                                 "usr/lib/postroom/webkit/*.so; do ldd $f | grep 'not found' | sed \"s|^|$f: |\"; done").stdout
    assert missing.strip() == "", missing

    # The desktop app, by an ordinary user, on this machine's display.
    app = inside("dbus-run-session", "--", "/opt/Postroom.AppImage", "--data-dir", "mail", background=True)
    try:
        wait_for(lambda: answers(SERVICES["imap"]).startswith(b"* OK"), "the engine's IMAP greeting", timeout=60)

        def main_window():
            d = xdisplay.Display()
            found = []

            def walk(w):
                try:
                    if w.get_wm_name() == "Postroom" and w.get_attributes().map_state == 2:
                        found.append(w)
                    for child in w.query_tree().children:
                        walk(child)
                except Exception:
                    pass

            walk(d.screen().root)
            return found

        wait_for(main_window, "the main window on screen", timeout=60)
        # The window's web process runs from the AppImage's copy, with the extension loaded.
        # (One container at a time may use the tree: ann's uid is read from its passwd file.)
        uid = next(line.split(":")[2] for line in (BASE / "etc/passwd").read_text().splitlines() if line.startswith("ann:"))
        web = wait_for(lambda: run("pgrep", "-u", uid, "-x", "WebKitWebProces", check=False).stdout.split(),
                       "the window's web process")
        # (The process maps the extension a moment after it starts.)
        def maps_with_extension():
            maps = Path(f"/proc/{web[0]}/maps").read_text()
            return maps if "libpostroom_webext.so" in maps else None

        maps = wait_for(maps_with_extension, "the extension in the web process")
        assert "/.cache/postroom/appimage/" in maps
        assert "/usr/lib/x86_64-linux-gnu/libwebkit2gtk" not in maps, "WebKit came from the AppImage, not the host"
        time.sleep(3)
        shots = ROOT / "test-output" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        run("import", "-window", "root", str(shots / "appimage-main.png"))

        with smtplib.SMTP("127.0.0.1", SERVICES["smtp"], timeout=10) as s:
            s.sendmail("bob@far.example", ["ann@localhost"], "Subject: from the AppImage\r\n\r\nhello\r\n")
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        imap = imaplib.IMAP4("127.0.0.1", SERVICES["imap"], timeout=10)
        imap.starttls(tls)
        imap.login("ann", "ann-secret-1")
        imap.select("INBOX")
        found = wait_for(lambda: imap.search(None, "SUBJECT", '"from the AppImage"')[1][0].split(), "the message")
        assert len(found) == 1
        imap.logout()
    finally:
        app.terminate()  # the container, and every process in it, ends
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait(10)
