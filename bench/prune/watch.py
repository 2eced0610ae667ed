#!/usr/bin/env python3
"""Watches a running Postroom's background prune pass fill the Recycle Bin.

    watch.py DB TARGET [--interval 0.05] [--timeout 3600] [--pid SERVER_PID]

Polls `SELECT max(id) FROM recycled` (one B-tree lookup; a read-only connection, which in WAL mode never
holds up the server's writer) every INTERVAL seconds until TARGET rows have been added since the start.
Prints one line: "t_before=.. t_first=.. n_first=.. t_end=.. n_end=..": the last poll that still saw
nothing new (the pass had not committed its first batch yet), the first poll that saw rows and how many,
and the first poll that saw TARGET or more (unix seconds). Exits 1 on timeout, or when the process
SERVER_PID is gone (printing what it saw).
"""

import argparse
import os
import sqlite3
import sys
import time


def alive(pid):
    """Whether the process runs (an exited child not yet waited for is a zombie: not alive)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("target", type=int)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--pid", type=int, help="give up when this process (the server) is gone")
    a = ap.parse_args()
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True, timeout=30)

    def rows():
        return db.execute("SELECT coalesce(max(id), 0) FROM recycled").fetchone()[0]

    base = rows()
    start = time.time()
    t_before = start
    t_first = n_first = None
    last_note = start
    n = 0
    while True:
        now = time.time()
        n = rows() - base
        if n == 0:
            t_before = now
        elif t_first is None:
            t_first, n_first = now, n
        if n >= a.target:
            break
        gone = a.pid is not None and not alive(a.pid)
        if now - start > a.timeout or gone:
            why = "the server is gone" if gone else f"timeout after {a.timeout:.0f} s"
            print(f"t_before={t_before:.3f} t_first={t_first or 0:.3f} n_first={n_first or 0} t_end=0 n_end={n} ({why})")
            sys.exit(1)
        if now - last_note >= 10:
            print(f"   watch: {n} of {a.target} in the Recycle Bin after {now - start:.0f} s", file=sys.stderr, flush=True)
            last_note = now
        time.sleep(a.interval)
    print(f"t_before={t_before:.3f} t_first={t_first:.3f} n_first={n_first} t_end={now:.3f} n_end={n}")


if __name__ == "__main__":
    main()
