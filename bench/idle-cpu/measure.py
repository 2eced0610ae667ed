"""Idle CPU of the desktop app with every window open: the real `postroom` under Xvfb, driven through
tauri-driver as the GUI tests drive it. It opens the main window and the twelve settings windows, lets
them settle, then adds up the CPU time of the app and its WebKit processes over a quiet minute (no mail,
no clicks) from /proc.

    xvfb-run -a dbus-run-session -- .venv/bin/python bench/idle-cpu/measure.py [APP] [SECONDS]

APP defaults to target/debug/postroom. Prints CPU seconds used and the average share of one core.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.options import ArgOptions

ROOT = Path(__file__).resolve().parents[2]
APP = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "debug" / "postroom"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 60
POSTROOMD = ROOT / "target" / "debug" / "postroomd"
SERVICES = ["smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps"]
WINDOWS = ["services", "users", "domains", "certificate", "smtp", "queue", "bans", "diagnostics", "geoip",
           "geoimport", "bandwidth", "bandwidthscript"]
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    kids = [int(p) for p in out.split()]
    return kids + [g for k in kids for g in children(k)]


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / TICK


def main():
    data = Path(tempfile.mkdtemp()) / "data"
    for service in SERVICES:
        subprocess.run([str(POSTROOMD), "--data-dir", str(data), "settings", "set", f"services.{service}.bind_address",
                        "127.0.0.1", f"services.{service}.port", str(free_port())], check=True, capture_output=True)
    port, native = free_port(), free_port()
    driver_proc = subprocess.Popen(["tauri-driver", "--port", str(port), "--native-port", str(native)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    options = ArgOptions()
    options.set_capability("browserName", "wry")
    options.set_capability("tauri:options", {"application": str(APP), "args": ["--data-dir", str(data)]})
    driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=options)
    try:
        time.sleep(3)
        for name in WINDOWS:
            driver.execute_script("return window.__TAURI_INTERNALS__.invoke('open_window', {window: arguments[0]})", name)
            time.sleep(1)
        time.sleep(10)
        app = int(subprocess.run(["pgrep", "-n", "-f", f"{APP} --data-dir {data}"], capture_output=True, text=True).stdout.split()[0])
        pids = [app] + children(app)
        print(f"{len(driver.window_handles)} windows open; app pid {app} and {len(pids) - 1} WebKit processes")
        before, started = cpu_seconds(pids), time.time()
        time.sleep(SECONDS)
        used, elapsed = cpu_seconds(pids) - before, time.time() - started
        print(f"idle CPU over {elapsed:.0f} s: {used:.2f} CPU seconds = {100 * used / elapsed:.1f} % of one core")
    finally:
        driver.quit()
        driver_proc.terminate()


if __name__ == "__main__":
    main()
