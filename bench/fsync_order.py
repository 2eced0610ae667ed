#!/usr/bin/env python3
"""Checks in an strace log of a server that every SMTP DATA reply 250 follows an fsync.

Reads the output of
    strace -f -tt -s 40 -xx -e trace=fsync,fdatasync,sendto,recvfrom -o TRACE -p PID
and, for every connection, takes the last recvfrom after the server's 354 (the end of the message data)
and the 250 the server then sends: an fsync or fdatasync must have completed between the two. Prints the
counts; exits 1 if any 250 had no fsync before it (or if no DATA replies were found at all).
"""
import bisect
import re
import sys

LINE = re.compile(r"(\d+)\s+(\d+):(\d+):([\d.]+) (.*)")
CALL = re.compile(r'(\w+)\((\d+)(?:, ?"?([^"]*))?')


def decode(hexed):
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", hexed or ""))


def events(path):
    pending = {}
    out = []
    for line in open(path):
        m = LINE.match(line.rstrip("\n"))
        if not m:
            continue
        tid, rest = m.group(1), m.group(5)
        t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        if rest.endswith("<unfinished ...>"):
            pending[tid] = (t, rest[: -len("<unfinished ...>")])
            continue
        start = t
        resumed = re.match(r"<\.\.\. (\w+) resumed>(.*)", rest)
        if resumed:
            start, head = pending.pop(tid, (t, resumed.group(1) + "("))
            rest = head + resumed.group(2)
        call = CALL.match(rest)
        if not call or re.search(r"= -1 ", rest):
            continue
        out.append((start, t, call.group(1), int(call.group(2)), decode(call.group(3))))
    out.sort(key=lambda e: e[1])
    return out


def main(path):
    evs = events(path)
    fsyncs = [end for _, end, name, _, _ in evs if name in ("fsync", "fdatasync")]
    state, checked, bad = {}, 0, 0
    for start, end, name, fd, data in evs:
        if name == "sendto":
            if data.startswith(b"220 "):
                state[fd] = None
            elif data.startswith(b"354"):
                state[fd] = 0.0
            elif data.startswith(b"250") and state.get(fd) is not None:
                data_end, state[fd] = state[fd], None
                i = bisect.bisect_right(fsyncs, data_end)
                checked += 1
                if not (i < len(fsyncs) and fsyncs[i] <= start):
                    bad += 1
        elif name == "recvfrom" and state.get(fd) is not None:
            state[fd] = end
    print(f"{checked} DATA replies 250, {bad} without an fsync between the end of the data and the 250; {len(fsyncs)} fsyncs")
    return 1 if bad or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
