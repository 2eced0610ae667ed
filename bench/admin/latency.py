#!/usr/bin/env python3
"""How fast the admin socket answers the windows' calls: a `postroomd serve` on a fresh data folder with 200
users, then 2,000 round trips each of `get_overview` (the main window's refresh) and `list_users` (the Users
window) over one connection, as an attached desktop app makes them; beside it, the same user list asked
the way a script did before, by running `postroomd user list --json` (a process per question).
Prints a table for BENCHMARKS.md.

    .venv/bin/python bench/admin/latency.py [POSTROOMD]   (default target/release/postroomd)"""

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POSTROOMD = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "release" / "postroomd"
SERVICES = ["smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps"]


def cli(data, *args, stdin=None):
    return subprocess.run([str(POSTROOMD), "--data-dir", str(data), *args], input=stdin, capture_output=True,
                          text=True, check=True).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(n, f):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000, n / sum(times)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        for s in SERVICES:
            cli(data, "settings", "set", f"services.{s}.bind_address", "127.0.0.1", f"services.{s}.port", str(free_port()))
        csv = "".join(f"user{i},secret-password-{i},User Number {i}\n" for i in range(200))
        (Path(tmp) / "users.csv").write_text(csv)
        cli(data, "user", "bulk-add", str(Path(tmp) / "users.csv"))
        server = subprocess.Popen([str(POSTROOMD), "--data-dir", str(data), "serve"], stderr=subprocess.DEVNULL)
        try:
            sock_path = data / "admin.sock"
            deadline = time.time() + 30
            while not sock_path.exists():
                assert time.time() < deadline and server.poll() is None, "the admin socket did not appear"
                time.sleep(0.05)
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(sock_path))
            lines = s.makefile("rb")
            ids = iter(range(1, 10**9))

            def call(name):
                s.sendall(json.dumps({"id": next(ids), "call": name}).encode() + b"\n")
                answer = json.loads(lines.readline())
                assert "ok" in answer, answer

            call("list_users")
            rows = []
            for name in ["get_overview", "list_users"]:
                p50, p99, rate = timed(2000, lambda: call(name))
                rows.append((f"admin socket: `{name}`", p50, p99, rate))
            p50, p99, rate = timed(50, lambda: cli(data, "user", "list", "--json"))
            rows.append(("`postroomd user list --json` (a process each time)", p50, p99, rate))
        finally:
            server.terminate()
            server.wait(30)
    print("| call (200 users) | median | p99 | calls/s |\n|---|---|---|---|")
    for name, p50, p99, rate in rows:
        print(f"| {name} | {p50:.2f} ms | {p99:.2f} ms | {rate:,.0f} |")


if __name__ == "__main__":
    main()
