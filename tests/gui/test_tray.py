"""Postroom as a server that lives in the tray: closing the last window gives the webview back (its WebKit
processes end) while the engine keeps serving, and opening Postroom again brings a new main window.

These tests start the real `postroom` binary without WebDriver (WebKitWebDriver ends the app with its
session when the last window closes) and close the window as a window manager does: a WM_DELETE_WINDOW
message over X11."""

import os
import subprocess
import time

from Xlib import X, display, protocol

from conftest import APP, SHOTS, greeting, wait_until


def descendants(pid):
    """(pid, name) of every process below `pid`."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 1:].split()[1])
        children.setdefault(parent, []).append((int(entry), name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def webkit_processes(pid):
    # comm is cut at 15 characters: "WebKitWebProces", "WebKitNetworkPr".
    return sorted(name for _, name in descendants(pid) if name.startswith("WebKit"))


def windows_titled(title):
    d = display.Display()
    found = []

    def walk(w):
        try:
            if w.get_wm_name() == title and w.get_attributes().map_state == X.IsViewable:
                found.append(w)
            for child in w.query_tree().children:
                walk(child)
        except Exception:  # a window that went away while we looked
            pass

    walk(d.screen().root)
    return d, found


def close_window(title):
    """Asks every window with this title to close, as a window manager's close button does."""
    d, found = windows_titled(title)
    for w in found:
        message = protocol.event.ClientMessage(
            window=w, client_type=d.intern_atom("WM_PROTOCOLS"),
            data=(32, [d.intern_atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]))
        w.send_event(message, event_mask=X.NoEventMask)
    d.flush()
    return len(found)


def test_closing_the_last_window_gives_back_the_webview_and_opening_postroom_again_brings_it_back(data_dir):
    app = subprocess.Popen([str(APP), "--data-dir", str(data_dir)], stderr=subprocess.DEVNULL)
    try:
        imap = data_dir.ports["imap"]
        wait_until(lambda: greeting(imap), what="the engine's IMAP greeting")
        wait_until(lambda: any(n.startswith("WebKitWebProc") for n in webkit_processes(app.pid)), what="the main window's web process")
        wait_until(lambda: windows_titled("Postroom")[1], what="the main window on screen")

        assert close_window("Postroom") == 1
        wait_until(lambda: webkit_processes(app.pid) == [], timeout=20, what="every WebKit process to end")
        assert not windows_titled("Postroom")[1], "the window is gone, not hidden"
        assert app.poll() is None, "Postroom keeps running in the tray"
        assert greeting(imap).startswith("* OK"), "and keeps serving"
        log = (data_dir.path / "logs" / "postroom.log")
        wait_until(lambda: "every window closed" in log.read_text(errors="replace"), what="the log line")

        # Opening Postroom again (the tray's Open, or starting it again) brings a new main window.
        subprocess.Popen([str(APP), "--data-dir", str(data_dir)], stderr=subprocess.DEVNULL).wait(20)
        wait_until(lambda: windows_titled("Postroom")[1], what="the main window back")
        wait_until(lambda: any(n.startswith("WebKitWebProc") for n in webkit_processes(app.pid)), what="a new web process")
        time.sleep(1.5)
        SHOTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(SHOTS / "main-reopened.png")], check=True)
        assert greeting(imap).startswith("* OK")
    finally:
        app.terminate()
        assert app.wait(30) == 0, "Quit on SIGTERM is graceful"


def _pss_mb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:")) / 1024


def test_a_windows_web_process_gives_back_the_library_pages_its_start_up_touched(data_dir):
    """The app's web process extension runs in each window's WebKitWebProcess and hands back the clean
    library pages the process's start-up touched (Mesa's LLVM initialising itself, most of them): the
    process, at its largest just after the window loads, is far smaller a few seconds later, and the
    window still works."""
    app = subprocess.Popen([str(APP), "--data-dir", str(data_dir)], stderr=subprocess.DEVNULL)
    try:
        web = wait_until(lambda: next((p for p, n in descendants(app.pid) if n.startswith("WebKitWebProc")), None),
                         what="the main window's web process")
        wait_until(lambda: "libpostroom_webext.so" in open(f"/proc/{web}/maps").read(),
                   what="the extension loaded into the web process")
        largest = 0.0

        def shrunk():
            nonlocal largest
            now = _pss_mb(web)
            largest = max(largest, now)
            return largest > 0 and now < 0.75 * largest

        wait_until(shrunk, timeout=30, what="the web process to give its start-up pages back")
        threads = {open(f"/proc/{web}/task/{t}/comm").read().strip() for t in os.listdir(f"/proc/{web}/task")}
        assert "postroom-trim" in threads
        # The pages come back as they are used: the same web process lives on and the window stays.
        time.sleep(2)
        assert os.path.exists(f"/proc/{web}"), "the web process did not crash"
        assert windows_titled("Postroom")[1], "the main window is on screen"
        assert greeting(data_dir.ports["imap"]).startswith("* OK")
    finally:
        app.terminate()
        assert app.wait(30) == 0
