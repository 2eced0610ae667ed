#!/usr/bin/env python3
"""SMTP latency probe for the prune benchmark: the time from the end of DATA to the server's 250.

    smtp_probe.py send  --port P --to RCPT [--sessions 4] [--rate 20] (--duration S | --stop-file F) --out FILE
    smtp_probe.py stats FILE [--from T0] [--to T1]

send: SESSIONS connections, each opened once (EHLO once) and reused: MAIL FROM, RCPT TO, DATA, the
message, then "." - one message after another on the same connection, no RSET needed after a 250. The
load is paced, not saturating: together the sessions start RATE messages a second (each session one every
SESSIONS/RATE s; a session that falls behind sends its next message at once rather than in a burst).
Per message the latency is from just before the final ".\\r\\n" is written until the 250 line is read
(the server answers 250 only after its commit is durable). Messages are ~1.8 KB, each different.
Writes one line per message to FILE: "<unix time of the final dot> <latency ms> <reply code>", and prints
"count=N errors=E p50_ms=.. p99_ms=.. max_ms=.." over the whole run. A failed message (no 250, or a broken
connection) is counted as an error and the session reconnects.

stats: the same summary over the lines of FILE whose time lies in [T0, T1] (unix seconds).
"""

import argparse
import os
import socket
import sys
import threading
import time


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    # nearest-rank
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def summary(samples):
    ok = sorted(ms for _, ms, code in samples if code == 250)
    errors = sum(1 for _, _, code in samples if code != 250)
    return (
        f"count={len(ok)} errors={errors} p50_ms={percentile(ok, 50):.2f} "
        f"p99_ms={percentile(ok, 99):.2f} max_ms={(ok[-1] if ok else 0):.2f}"
    )


class Session:
    def __init__(self, port, sender, rcpt):
        self.port, self.sender, self.rcpt = port, sender, rcpt
        self.sock = None
        self.buf = b""

    def reply(self):
        """Reads one (possibly multi-line) reply; returns its code."""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3])

    def command(self, text, want):
        self.sock.sendall(text.encode() + b"\r\n")
        code = self.reply()
        if code != want:
            raise RuntimeError(f"{text.split()[0]}: {code}")

    def connect(self):
        self.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        if self.reply() != 220:
            raise RuntimeError("no 220 greeting")
        self.command("EHLO probe.bench.test", 250)

    def send(self, body):
        """One message; returns (unix time of the dot, latency ms, reply code)."""
        self.command(f"MAIL FROM:<{self.sender}>", 250)
        self.command(f"RCPT TO:<{self.rcpt}>", 250)
        self.command("DATA", 354)
        self.sock.sendall(body)
        wall = time.time()
        t0 = time.perf_counter()
        self.sock.sendall(b".\r\n")
        code = self.reply()
        return wall, (time.perf_counter() - t0) * 1000, code

    def close(self):
        if self.sock:
            try:
                self.sock.sendall(b"QUIT\r\n")
            except OSError:
                pass
            self.sock.close()
            self.sock = None


FILLER = (
    "The quarterly figures are attached; please review the budget and the delivery schedule before the "
    "meeting, and send your notes to the team.\r\n"
)


def message(session, n, rcpt):
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    text = FILLER * 12
    return (
        f"From: Probe <probe@sender.test>\r\nTo: <{rcpt}>\r\nSubject: probe {session}.{n}\r\n"
        f"Date: {date}\r\nMessage-ID: <probe.{session}.{n}.{time.time_ns()}@sender.test>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}"
    ).encode()


def send(a):
    samples = []
    lock = threading.Lock()
    deadline = time.monotonic() + a.duration if a.duration else None
    interval = a.sessions / a.rate

    def done():
        if deadline is not None and time.monotonic() >= deadline:
            return True
        return a.stop_file is not None and os.path.exists(a.stop_file)

    def worker(k):
        s = Session(a.port, "probe@sender.test", a.to)
        mine = []
        n = 0
        next_at = time.monotonic() + interval * k / a.sessions  # spread the sessions' starts
        while not done():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 0.2))
                continue
            next_at = max(next_at + interval, time.monotonic())
            n += 1
            try:
                if s.sock is None:
                    s.connect()
                mine.append(s.send(message(k, n, a.to)))
            except (OSError, RuntimeError, ValueError) as e:
                mine.append((time.time(), 0.0, 0))
                print(f"smtp_probe: session {k}: {e}", file=sys.stderr)
                s.close()
                time.sleep(0.1)
        s.close()
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples.sort()
    with open(a.out, "w") as f:
        for wall, ms, code in samples:
            f.write(f"{wall:.6f} {ms:.3f} {code}\n")
    print(summary(samples))


def stats(a):
    samples = []
    with open(a.file) as f:
        for line in f:
            wall, ms, code = line.split()
            wall = float(wall)
            if (a.t_from is None or wall >= a.t_from) and (a.t_to is None or wall <= a.t_to):
                samples.append((wall, float(ms), int(code)))
    print(summary(samples))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--to", required=True)
    s.add_argument("--sessions", type=int, default=4)
    s.add_argument("--rate", type=float, default=20.0, help="messages per second, all sessions together")
    s.add_argument("--duration", type=float)
    s.add_argument("--stop-file")
    s.add_argument("--out", required=True)
    t = sub.add_parser("stats")
    t.add_argument("file")
    t.add_argument("--from", dest="t_from", type=float)
    t.add_argument("--to", dest="t_to", type=float)
    a = ap.parse_args()
    if a.cmd == "send":
        if not a.duration and not a.stop_file:
            ap.error("send needs --duration or --stop-file")
        send(a)
    else:
        stats(a)


if __name__ == "__main__":
    main()
