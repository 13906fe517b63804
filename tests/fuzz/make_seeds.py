#!/usr/bin/env python3
"""Writes the seed corpora of the daemon-side harnesses (peer_frame,
client_request, case_fold) with a minimal protobuf encoder, so that every
seed's meaning is visible here.  Run from tests/fuzz/; commits the output."""

import os
import struct


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, n):
    return varint(field << 3) + varint(n)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def write(corpus, name, data):
    os.makedirs("corpus/" + corpus, exist_ok=True)
    with open("corpus/%s/%s" % (corpus, name), "wb") as f:
        f.write(data)


def update(case, kind, lamport, status="", share=(), note="", seen=()):
    u = f_varint(1, 1) + f_bytes(2, case) + f_varint(3, kind) + f_varint(4, lamport)
    u += f_varint(5, 1764300000000 + lamport)
    if status:
        u += f_bytes(6, status)
    if note:
        u += f_bytes(10, note)
    for s in share:
        u += f_bytes(12, s)
    for origin, seq in seen:
        u += f_bytes(15, f_bytes(1, origin) + f_varint(2, seq))
    return u


env1 = open("../vectors/env-1.env", "rb").read()

# peer frames
write("peer_frame", "valid-batch", f_varint(1, 1) + f_bytes(3, f_bytes(1, env1)))
write("peer_frame", "valid-hello", f_varint(1, 1) + f_bytes(2, f_varint(1, 1) +
      f_bytes(2, f_bytes(1, "vec-alpha") + f_varint(2, 7))))
write("peer_frame", "valid-catch-up", f_varint(1, 1) + f_bytes(5, f_bytes(1, f_bytes(1, "vec-alpha") + f_varint(2, 3))))
write("peer_frame", "valid-reject", f_varint(1, 1) + f_bytes(6, f_varint(1, 3) + f_bytes(2, b"\x01" * 16)))
body = f_varint(1, 1) + f_bytes(2, "vec-alpha") + f_bytes(3, "vec-bravo") + f_varint(4, 1) + f_bytes(5, b"\x02" * 16)
write("peer_frame", "receipt-bad-signature", f_varint(1, 1) + f_bytes(4, f_bytes(1, body) + f_bytes(2, b"\x00" * 64)))
write("peer_frame", "broken-version-9", f_varint(1, 9) + f_bytes(3, f_bytes(1, env1)))
write("peer_frame", "broken-empty-batch", f_varint(1, 1) + f_bytes(3, b""))
write("peer_frame", "broken-garbage", b"\xff\xff\xff\xff\x0f\x12\x00")

# client requests
sub = update("MX-2026-000001", 1, 0, status="detained", share=("sv-houston",), note="first")
write("client_request", "valid-submit", f_varint(1, 1) + f_bytes(2, f_bytes(1, sub)))
write("client_request", "valid-submit-infer", f_varint(1, 1) + f_bytes(2, f_bytes(1, update("MX-1", 0, 0, note="x"))))
write("client_request", "valid-case", f_varint(1, 1) + f_bytes(3, f_bytes(1, "MX-2026-000001") + f_varint(2, 1)))
write("client_request", "valid-history", f_varint(1, 1) + f_bytes(4, f_bytes(1, "MX-2026-000001")))
write("client_request", "valid-list", f_varint(1, 1) + f_bytes(5, f_bytes(1, "detained") + f_bytes(3, "sv-houston") + f_varint(5, 1)))
write("client_request", "valid-status", f_varint(1, 1) + f_bytes(6, f_bytes(1, b"\x03" * 16)))
write("client_request", "valid-peers", f_varint(1, 1) + f_bytes(7, b""))
write("client_request", "valid-watch", f_varint(1, 1) + f_bytes(8, f_bytes(1, "MX-1")))
write("client_request", "broken-case-id", f_varint(1, 1) + f_bytes(3, f_bytes(1, "../etc")))
write("client_request", "broken-control-char", f_varint(1, 1) + f_bytes(2, f_bytes(1, update("MX-1", 6, 0, note="a\x01b"))))
write("client_request", "broken-no-version", f_bytes(7, b""))

# case folds: HistoryReply entries (msg_id, origin, seq, kind, created_ms, lamport, update)
def entry(msg, origin, seq, lamport, upd):
    return f_bytes(1, f_bytes(1, bytes([msg]) * 16) + f_bytes(2, origin) + f_varint(3, seq) +
                   f_varint(5, 1764300000000 + lamport) + f_varint(7, lamport) + f_bytes(11, upd))

opened = update("FUZZ-1", 1, 1, status="detained", share=("sv-b", "gt-c"))
write("case_fold", "open-and-update", entry(1, "mx-a", 1, 1, opened) +
      entry(2, "sv-b", 1, 2, update("FUZZ-1", 2, 2, status="released", seen=(("mx-a", 1),))))
write("case_fold", "concurrent-status", entry(1, "mx-a", 1, 1, opened) +
      entry(2, "sv-b", 1, 2, update("FUZZ-1", 2, 2, status="released", seen=(("mx-a", 1),))) +
      entry(3, "gt-c", 1, 2, update("FUZZ-1", 2, 2, status="transferred", seen=(("mx-a", 1),))))
write("case_fold", "not-shared-and-close", entry(1, "mx-a", 1, 1, opened) +
      entry(2, "xx-d", 1, 2, update("FUZZ-1", 6, 2, note="intruder")) +
      entry(3, "sv-b", 2, 3, update("FUZZ-1", 9, 3)))
write("case_fold", "before-open", entry(2, "sv-b", 1, 1, update("FUZZ-1", 6, 1, note="early")) +
      entry(1, "mx-a", 1, 2, opened))
