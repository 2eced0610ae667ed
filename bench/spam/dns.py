#!/usr/bin/env python3
"""A minimal DNS server on a loopback UDP port for the spam benchmark: TXT records given on the command
line (NAME=TEXT), NXDOMAIN for everything else, answered at once.

   bench/spam/dns.py PORT [NAME=TEXT ...]
"""
import socket, struct, sys

port = int(sys.argv[1])
records = {}
for arg in sys.argv[2:]:
    name, text = arg.split("=", 1)
    records[name.lower().rstrip(".")] = text.encode()

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
while True:
    data, peer = sock.recvfrom(4096)
    if len(data) < 12:
        continue
    qid, flags, qd = struct.unpack(">HHH", data[:6])
    # The question: labels up to the zero byte, then type and class.
    i, labels = 12, []
    while i < len(data) and data[i] != 0:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode(errors="replace"))
        i += 1 + n
    question = data[12:i + 5]
    qtype = struct.unpack(">H", data[i + 1:i + 3])[0] if i + 3 <= len(data) else 0
    name = ".".join(labels).lower()
    rd = flags & 0x0100
    if name in records:
        answer = b""
        if qtype == 16:
            text = records[name]
            rdata = bytes([len(text)]) + text
            answer = struct.pack(">HHHIH", 0xC00C, 16, 1, 60, len(rdata)) + rdata
        reply = struct.pack(">HHHHHH", qid, 0x8400 | rd, 1, 1 if answer else 0, 0, 0) + question + answer
    else:
        reply = struct.pack(">HHHHHH", qid, 0x8403 | rd, 1, 0, 0, 0) + question
    sock.sendto(reply, peer)
