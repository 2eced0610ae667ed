"""What the package tests share: running a command, waiting for something, a service's greeting, and
the newest bundle scripts/package.sh wrote."""

import glob
import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args, check=True, input=None):
    return subprocess.run(args, capture_output=True, text=True, check=check, input=input, timeout=600)


def newest_bundle(kind):
    """target/release/bundle/<kind>/*.<kind>, the newest (kind: deb or rpm)."""
    found = sorted(glob.glob(str(ROOT / f"target/release/bundle/{kind}/*.{kind}")), key=os.path.getmtime)
    assert found, f"no .{kind}: run scripts/package.sh first"
    return found[-1]


def wait_for(check, what, timeout=30):
    """check()'s first true answer, tried every 0.3 s; fails the test after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def answers(port):
    """What a service on this machine's loopback port says first (b"" when nothing listens)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(5)
            return s.recv(200)
    except OSError:
        return b""
