#!/usr/bin/env python3
"""SIGKILL in the middle of a stream of updates loses nothing that was
acknowledged: not at the receiving post (signed receipts are only sent after
commit), not at the submitting post (message ids are only printed after
commit)."""

import json
import subprocess
import time

from vjfed import VALIJA, Checks, Federation, wait_until

N = 1500
CASES = 6

t = Checks("crash")
with Federation(["mx-a", "sv-b"]) as fed:
    fed.start_all()
    a, b = fed["mx-a"], fed["sv-b"]
    for k in range(CASES):
        a.submit("--case", "CRASH-%d" % k, "--status", "detained", "--share", "sv-b")

    def lines(start, n):
        return "".join(json.dumps({"case": "CRASH-%d" % (i % CASES), "note": "n%d" % i}) + "\n"
                       for i in range(start, start + n))

    def held(post):
        ids = set()
        for k in range(CASES):
            ids |= {e["msg_id"] for e in post.history("CRASH-%d" % k)}
        return ids

    # 1. The receiver is killed while the stream arrives.
    client = subprocess.Popen([VALIJA, "--socket", a.socket, "submit", "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    client.stdin.write(lines(0, N))
    client.stdin.close()
    # Kill sv-b once mx-a holds its signed receipt for part of the stream,
    # while more is still coming.
    def receipted_some():
        if client.poll() is not None:
            return True
        h = a.history("CRASH-0")
        return len(h) > 20 and a.json("status", h[20]["msg_id"])["recipients"][0]["delivered"]
    wait_until(receipted_some, what="receipts from sv-b for part of the stream")
    b.kill()
    first = client.stdout.read().split()
    client.wait(timeout=120)
    t.check(client.returncode == 0 and len(first) == N, "mx-a accepted %d updates" % N)
    delivered = {m for m in first if all(r["delivered"] for r in a.json("status", m)["recipients"])}
    print("receipted before the kill: %d of %d" % (len(delivered), N))
    t.check(len(delivered) > 0, "some updates were receipted before the kill (else this proves nothing)")
    b.start()
    wait_until(lambda: len(held(b)) >= N + CASES, what="sv-b holds everything", timeout=60)
    have = held(b)
    t.check(delivered <= have, "every update sv-b had signed a receipt for survived SIGKILL")
    t.check(set(first) <= have, "and the rest arrived after the restart")

    # 2. The submitting post is killed while a client streams into it.
    client = subprocess.Popen([VALIJA, "--socket", a.socket, "submit", "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    M = 1024
    before = len(a.history("CRASH-0"))
    client.stdin.write(lines(N, M))
    client.stdin.close()
    # Two chunks of 256 committed at mx-a: the client has had at least one reply.
    wait_until(lambda: len(a.history("CRASH-0")) >= before + 512 // CASES or client.poll() is not None,
               what="the stream reaching mx-a")
    a.kill()
    printed = client.stdout.read().split()
    client.wait(timeout=60)
    print("ids printed before the kill: %d (client exit %d)" % (len(printed), client.returncode))
    t.check(len(printed) > 0, "the client saw some ids before the kill (else this proves nothing)")
    a.start()
    have_a = held(a)
    t.check(set(printed) <= have_a, "every id the client saw is stored at mx-a after SIGKILL")
    wait_until(lambda: set(printed) <= held(b), what="sv-b gets them too", timeout=60)
    t.check(True, "every acknowledged id reaches sv-b after the restart")
    t.check(client.returncode != 0 or len(printed) == M,
            "a client cut off mid-stream reports failure")
t.done()
