#!/usr/bin/env python3
"""Makes the prune benchmark's mail store twice over: rows in a Postroom database, and a Dovecot maildir tree.

    gen.py db      DB_PATH --users N --messages M --now T            # INBOX of user01..userNN in postroom.db
    gen.py maildir ROOT    --users N --messages M --now T [--jobs J]   # ROOT/userNN/Maildir/cur/<file>

Both modes produce the very same messages (same order, same bytes, same arrival times), so the two can
run at once in two processes (and maildir's users J at a time). Every message has a body of its own (a
unique Message-ID, Received line and text), 1.4-2.3 KB with CRLF line ends. Message k (k = 1..) of a
user is UID k in Postroom; even UIDs arrived 400 days (plus a little) before T, odd ones 1-200 days
before T, so a 365-day rule takes exactly the even ones. Mail is marked read (\\Seen; maildir flag S),
as old mail in an INBOX usually is.

db: the users and their INBOX must already exist (made by postroomd). Blobs and messages are inserted in
large transactions with journal_mode=OFF and synchronous=OFF (generation only; WAL mode is restored at the
end), keeping folders.uidnext/highestmodseq/recent_uid and blobs.refcount (1 each) consistent.
maildir: files are named as Dovecot's own deliveries (TIME.MusecPpidQn.host,S=size,W=vsize:2,S), hold the
body with LF line ends as Dovecot stores it, belong to nobody:nogroup, and have mtime = arrival time
(Dovecot's received date for maildir).

Prints one JSON line: {"messages": M, "old": count of messages the rule takes, "old_bytes": their size}.
"""

import argparse
import hashlib
import json
import os
import random
import sqlite3
import sys
import time

DAY = 86400
DOMAIN = "bench.test"
HOST = "mail.bench.test"

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have "
    "an had they you were their one all we can her has there been if more when will would who so no "
    "meeting invoice quarter report schedule budget review project update draft attached please thanks "
    "regards shipment order delivery account balance payment contract server backup release notes team "
    "customer support ticket minutes agenda office holiday travel expense figures summary proposal plan"
).split()
FIRST = "Anna Ben Carla David Elena Frank Grace Hugo Irene Jonas Karin Lars Maria Nils Olga Peter".split()
LAST = "Berg Costa Dahl Evans Fischer Garcia Hansen Ito Jensen Keller Lind Moreau Novak Olsen Price".split()
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
WEEKDAYS = "Mon Tue Wed Thu Fri Sat Sun".split()


def users(n):
    width = max(2, len(str(n)))
    return [f"user{i:0{width}d}" for i in range(1, n + 1)]


def per_user(total, n):
    """Messages of each of n users (the first ones get one more when it does not divide)."""
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def rfc2822(t):
    g = time.gmtime(t)
    return f"{WEEKDAYS[g.tm_wday]}, {g.tm_mday} {MONTHS[g.tm_mon - 1]} {g.tm_year} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} +0000"


def arrival(uid, count, now):
    """Even UIDs: 400 days ago and older; odd ones: between 200 and 1 days ago (in UID order)."""
    if uid % 2 == 0:
        return now - 400 * DAY - (count - uid) * 37
    return now - 200 * DAY + uid * 199 * DAY // max(count, 1)


def messages(user_index, user, count, now):
    """Yields (uid, arrived_at, body with CRLF line ends) for one user's mailbox, the same on every call."""
    rng = random.Random(1000 + user_index)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(9, 13))).capitalize() + "." for _ in range(3000)]
    for uid in range(1, count + 1):
        t = arrival(uid, count, now)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        sender = f"{first.lower()}.{last.lower()}@example{rng.randint(1, 40)}.test"
        subject = " ".join(rng.choices(WORDS, k=rng.randint(3, 7))).capitalize()
        token = f"{rng.getrandbits(64):016x}"
        date = rfc2822(t)
        head = (
            f"Return-Path: <{sender}>\r\n"
            f"Received: from mx{rng.randint(1, 9)}.example.test (mx.example.test [192.0.2.{rng.randint(1, 254)}])\r\n"
            f"\tby {HOST} (Postroom) with ESMTP id {token[:12]}\r\n"
            f"\tfor <{user}@{DOMAIN}>; {date}\r\n"
            f"Message-ID: <{token}.{uid}.{user}@example.test>\r\n"
            f"Date: {date}\r\n"
            f"From: {first} {last} <{sender}>\r\n"
            f"To: <{user}@{DOMAIN}>\r\n"
            f"Subject: {subject}\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
        )
        text = "\r\n".join(rng.choices(lines, k=rng.randint(12, 22)))
        body = f"{head}Hello,\r\n\r\n{text}\r\n\r\n-- \r\n{first} {last}\r\n".encode()
        yield uid, t, body


def make_db(path, names, counts, now):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    blob_id = db.execute("SELECT coalesce(max(id), 0) FROM blobs").fetchone()[0]
    message_id = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
    old = old_bytes = 0
    for i, (user, count) in enumerate(zip(names, counts)):
        row = db.execute(
            "SELECT f.id, f.uidnext FROM folders f JOIN users u ON u.id = f.user_id "
            "WHERE u.name = ? AND u.deleted_at IS NULL AND f.path = 'INBOX'",
            (user,),
        ).fetchone()
        if row is None:
            sys.exit(f"gen.py: no INBOX for {user}")
        folder_id, uidnext = row
        if uidnext != 1:
            sys.exit(f"gen.py: {user}'s INBOX is not empty (uidnext {uidnext})")
        db.execute("BEGIN")
        blobs, rows = [], []
        for uid, t, body in messages(i, user, count, now):
            blob_id += 1
            message_id += 1
            size = len(body)
            blobs.append((blob_id, hashlib.sha256(body).hexdigest(), size, body))
            # (id, folder_id, uid, received_at, size, seen, modseq, blob_id, arrived_at): add_message gives
            # message k the mod-sequence k + 1.
            rows.append((message_id, folder_id, uid, t, size, 1, uid + 1, blob_id, t))
            if uid % 2 == 0:
                old += 1
                old_bytes += size
            if len(rows) == 10000:
                flush(db, blobs, rows)
        flush(db, blobs, rows)
        db.execute(
            "UPDATE folders SET uidnext = ?2, highestmodseq = ?3, recent_uid = ?4 WHERE id = ?1",
            (folder_id, count + 1, count + 1, count),
        )
        db.execute("COMMIT")
        progress(f"db: {user} done ({count} messages)")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return old, old_bytes


def flush(db, blobs, rows):
    db.executemany("INSERT INTO blobs(id, sha256, size, data, refcount) VALUES (?, ?, ?, ?, 1)", blobs)
    db.executemany(
        "INSERT INTO messages(id, folder_id, uid, received_at, size, seen, modseq, blob_id, arrived_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    blobs.clear()
    rows.clear()


def make_maildir(root, names, counts, now, jobs=1):
    """Writes the users' maildirs, JOBS users at a time (one process each)."""
    work = [(root, i, user, count, now) for i, (user, count) in enumerate(zip(names, counts))]
    if jobs <= 1:
        parts = list(map(write_maildir, work))
    else:
        import multiprocessing

        with multiprocessing.Pool(jobs) as pool:
            parts = list(pool.imap_unordered(write_maildir, work))
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def write_maildir(job):
    """One user's maildir; returns (old messages, their bytes)."""
    root, i, user, count, now = job
    try:
        import pwd

        p = pwd.getpwnam("nobody")
        uid_nobody, gid_nogroup = p.pw_uid, p.pw_gid
    except KeyError:
        uid_nobody, gid_nogroup = 65534, 65534
    chown = os.geteuid() == 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    pid = os.getpid()
    old = old_bytes = 0
    home = os.path.join(root, user)
    maildir = os.path.join(home, "Maildir")
    for d in (home, maildir, *(os.path.join(maildir, s) for s in ("cur", "new", "tmp"))):
        os.makedirs(d, mode=0o700, exist_ok=True)
        if chown:
            os.chown(d, uid_nobody, gid_nogroup)
    cur = os.path.join(maildir, "cur")
    for uid, t, body in messages(i, user, count, now):
        data = body.replace(b"\r\n", b"\n")
        name = f"{t}.M{uid * 7 % 1000000}P{pid}Q{uid}.{HOST},S={len(data)},W={len(body)}:2,S"
        fd = os.open(os.path.join(cur, name), flags, 0o600)
        try:
            os.write(fd, data)
            if chown:
                os.fchown(fd, uid_nobody, gid_nogroup)
            os.utime(fd, (t, t))
        finally:
            os.close(fd)
        if uid % 2 == 0:
            old += 1
            old_bytes += len(body)
    progress(f"maildir: {user} done ({count} messages)")
    return old, old_bytes


def progress(text):
    print(f"   gen {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["db", "maildir"])
    ap.add_argument("path")
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--now", type=int, required=True)
    ap.add_argument("--jobs", type=int, default=1, help="maildir: processes writing files (one user each at a time)")
    a = ap.parse_args()
    names = users(a.users)
    counts = per_user(a.messages, a.users)
    if a.mode == "db":
        old, old_bytes = make_db(a.path, names, counts, a.now)
    else:
        old, old_bytes = make_maildir(a.path, names, counts, a.now, a.jobs)
    print(json.dumps({"messages": a.messages, "old": old, "old_bytes": old_bytes}))


if __name__ == "__main__":
    main()
