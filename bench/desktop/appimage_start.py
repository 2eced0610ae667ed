#!/usr/bin/env python3
"""The AppImage's start: the first start through it (which unpacks it into the user's cache) and later
starts of the desktop app until every service accepts connections. Uses a throwaway HOME, so the first
start really unpacks. Prints the figures for BENCHMARKS.md.

    xvfb-run -a dbus-run-session -- python3 bench/desktop/appimage_start.py target/release/bundle/appimage/Postroom_<version>_amd64.AppImage
"""
import os, shutil, socket, subprocess, sys, tempfile, time
from pathlib import Path
img = sys.argv[1]
home = Path(tempfile.mkdtemp(prefix="ai-home-"))
env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
data = home / "mail"
ports = {"smtp": 13025, "submission": 13587, "smtps": 13465, "pop3": 13110, "pop3s": 13995, "imap": 13143, "imaps": 13993}
args = [x for s, p in ports.items() for x in (f"services.{s}.port", str(p), f"services.{s}.bind_address", "127.0.0.1")]
def answers(p):
    try:
        socket.create_connection(("127.0.0.1", p), timeout=0.5).close(); return True
    except OSError: return False
for label in ["first after unpacking", "second", "third"]:
    if label.startswith("first"):
        t = time.time()
        subprocess.run([img, "postroomd", "--data-dir", str(data), "settings", "set", *args], env=env, check=True, capture_output=True)
        print(f"postroomd settings set, first start (unpacks): {time.time()-t:.2f} s")
    t = time.time()
    app = subprocess.Popen([img, "--data-dir", str(data)], env=env, stderr=subprocess.DEVNULL)
    while not all(answers(p) for p in ports.values()):
        time.sleep(0.01)
    print(f"desktop app, {label}: every service answering after {time.time()-t:.2f} s")
    app.terminate(); app.wait(30)
    time.sleep(1)
print("cache:", subprocess.run(["du", "-sh", str(home / ".cache/postroom/appimage")], capture_output=True, text=True).stdout.split()[0])
shutil.rmtree(home)
