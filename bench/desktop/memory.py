#!/usr/bin/env python3
"""The desktop app as a server that lives in the tray: its memory (PSS of postroom and every process under
it, from /proc/PID/smaps_rollup) with the main window open, after the last window closed, and again after
a minute in the tray with mail arriving; how long a new main window takes to appear; how long a cold start
takes until every service answers. Prints one table for BENCHMARKS.md.

Run under a display (xvfb-run -a dbus-run-session -- .venv/bin/python bench/desktop/memory.py [APP]);
APP defaults to target/release/postroom (or /usr/bin/postroom when installed from the .deb).
Uses python-xlib (tests/gui/requirements.txt) to close the window as a window manager would."""

import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "gui"))
from test_tray import close_window, descendants, windows_titled  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "release" / "postroom"
POSTROOMD = APP.with_name("postroomd")
SERVICES = ["smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port):
    """The port accepts connections (TLS ports say nothing before the handshake, so nothing is read)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def pss_mb(pid):
    """(total, {name: MB}) over pid and its descendants."""
    parts = {}
    for p, name in [(pid, "postroom")] + descendants(pid):
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    parts[name] = parts.get(name, 0) + int(line.split()[1]) / 1024
        except OSError:
            pass
    return sum(parts.values()), parts


def show(label, measured):
    total, parts = measured
    detail = ", ".join(f"{k} {v:.0f}" for k, v in sorted(parts.items()))
    print(f"| {label} | {total:.0f} MB | {detail} |")


def main():
    data = Path(tempfile.mkdtemp(prefix="postroom-bench-"))
    ports = {s: free_port() for s in SERVICES}
    for s, p in ports.items():
        subprocess.run([str(POSTROOMD), "--data-dir", str(data), "settings", "set", f"services.{s}.bind_address", "127.0.0.1",
                        f"services.{s}.port", str(p)], check=True, capture_output=True)
    subprocess.run([str(POSTROOMD), "--data-dir", str(data), "user", "add", "ann", "--password-stdin"], input=b"ann-secret-1\n",
                   check=True, capture_output=True)
    started = time.time()
    app = subprocess.Popen([str(APP), "--data-dir", str(data)], stderr=subprocess.DEVNULL)
    while not all(answers(p) for p in ports.values()):
        time.sleep(0.01)
    cold = time.time() - started
    while not windows_titled("Postroom")[1]:
        time.sleep(0.01)
    window = time.time() - started
    print(f"cold start to every service answering: {cold:.2f} s; main window on screen: {window:.2f} s\n")
    print("| state | PSS in all | postroom and its WebKit processes (MB) |\n|---|---|---|")
    time.sleep(10)
    show("main window open, idle 10 s", pss_mb(app.pid))
    time.sleep(35)
    show("main window open, idle 45 s", pss_mb(app.pid))
    close_window("Postroom")
    time.sleep(6)
    show("last window closed, 6 s later", pss_mb(app.pid))
    # A minute in the tray, serving: 60 messages over SMTP.
    for _ in range(60):
        with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as s:
            s.sendmail("bob@far.example", ["ann@localhost"], "Subject: tray\r\n\r\nhello\r\n")
        time.sleep(1)
    show("in the tray 60 s, one message a second", pss_mb(app.pid))
    opened = time.time()
    subprocess.Popen([str(APP), "--data-dir", str(data)], stderr=subprocess.DEVNULL).wait(20)
    while not windows_titled("Postroom")[1]:
        time.sleep(0.005)
    print(f"\nreopened: the main window on screen {time.time() - opened:.2f} s after asking\n")
    time.sleep(10)
    show("main window open again, idle 10 s", pss_mb(app.pid))
    app.terminate()
    app.wait(30)


if __name__ == "__main__":
    main()
