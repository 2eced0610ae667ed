#!/usr/bin/env python3
"""Bytes a mail program receives to resynchronise a mailbox: with QRESYNC (RFC 7162) against a full
resynchronisation (SELECT, then the UID and FLAGS of every message), after another session expunged
100 messages and flagged 10 of a 2,000-message mailbox.

    python3 bench/qresync/measure.py target/release/postroomd

Starts its own postroomd on a free loopback port in a temporary folder, fills the mailbox over IMAP
APPEND, and prints the byte counts (server to client, the whole answers, tagged lines included).
"""
import os, socket, subprocess, sys, tempfile, time

binary = os.path.abspath(sys.argv[1])
MESSAGES, EXPUNGED, FLAGGED = 2000, 100, 10


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Imap:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.n = 0
        self.received = 0
        self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("the server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.received += len(line) + 2
        return line

    def cmd(self, text):
        self.n += 1
        tag = b"t%d" % self.n
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        start = self.received
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise SystemExit(f"{text}: {line!r}")
                return lines, self.received - start


def main():
    work = tempfile.mkdtemp(prefix="postroom-qresync-")
    port = free_port()
    run = lambda *a, stdin="": subprocess.run([binary, *a, "--data-dir", work], input=stdin, text=True, check=True, capture_output=True)
    for service in ["smtp", "submission", "smtps", "pop3", "pop3s", "imaps"]:
        run("settings", "set", f"services.{service}.enabled", "false")
    run("settings", "set", "services.imap.bind_address", "127.0.0.1")
    run("settings", "set", "services.imap.port", str(port))
    run("domain", "add", "office.test")
    run("user", "add", "alice", "--password-stdin", stdin="alice-secret\n")
    server = subprocess.Popen([binary, "serve", "--data-dir", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        fill = Imap(port)
        fill.cmd("LOGIN alice alice-secret")
        for i in range(MESSAGES):
            body = f"From: bob@far.example\r\nTo: alice@office.test\r\nSubject: note {i}\r\n\r\n" + "text " * 200 + "\r\n"
            fill.cmd(f"APPEND INBOX {{{len(body)}+}}\r\n{body}")
        fill.cmd("LOGOUT")

        client = Imap(port)
        client.cmd("LOGIN alice alice-secret")
        client.cmd("ENABLE QRESYNC")
        lines, _ = client.cmd("SELECT INBOX")
        code = lambda name: next(l for l in lines if name.encode() in l).split(name.encode() + b" ")[1].split(b"]")[0].decode()
        validity, modseq = code("UIDVALIDITY"), code("HIGHESTMODSEQ")
        client.cmd("LOGOUT")

        other = Imap(port)
        other.cmd("LOGIN alice alice-secret")
        other.cmd("SELECT INBOX")
        other.cmd(f"UID STORE 501:{500 + EXPUNGED} +FLAGS.SILENT (\\Deleted)")
        other.cmd(f"UID STORE 1:{FLAGGED} +FLAGS.SILENT (\\Flagged)")
        other.cmd("EXPUNGE")
        other.cmd("LOGOUT")

        quick = Imap(port)
        quick.cmd("LOGIN alice alice-secret")
        quick.cmd("ENABLE QRESYNC")
        lines, quick_bytes = quick.cmd(f"SELECT INBOX (QRESYNC ({validity} {modseq}))")
        vanished = [l for l in lines if l.startswith(b"* VANISHED")]
        fetches = [l for l in lines if b" FETCH " in l]
        quick.cmd("LOGOUT")

        full = Imap(port)
        full.cmd("LOGIN alice alice-secret")
        _, select_bytes = full.cmd("SELECT INBOX")
        _, fetch_bytes = full.cmd("UID FETCH 1:* (FLAGS)")
        full.cmd("LOGOUT")
        full_bytes = select_bytes + fetch_bytes
        print(f"mailbox: {MESSAGES} messages; another session expunged {EXPUNGED} and flagged {FLAGGED}")
        print(f"QRESYNC SELECT: {quick_bytes} bytes ({len(vanished)} VANISHED line: {vanished[0].decode() if vanished else '-'}; {len(fetches)} FETCH lines)")
        print(f"full resync (SELECT + UID FETCH 1:* (FLAGS)): {full_bytes} bytes")
        print(f"ratio: {full_bytes / quick_bytes:.1f}x fewer bytes with QRESYNC")
    finally:
        server.terminate()
        server.wait()


main()
