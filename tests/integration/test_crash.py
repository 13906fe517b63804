#!/usr/bin/env python3
"""SIGKILL in the middle of a stream of updates loses nothing that was
acknowledged: not at the receiving post (signed receipts are only sent after
commit), not at the submitting post (message ids are only printed after
commit)."""

import json
import subprocess
import time

from vjfed import VALIJA, Checks, Federation, wait_until

N = 600
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
    wait_until(lambda: len(b.history("CRASH-0")) > 1 or client.poll() is not None,
               what="the stream reaching sv-b")
    b.kill()
    first = client.stdout.read().split()
    client.wait(timeout=120)
    t.check(client.returncode == 0 and len(first) == N, "mx-a accepted %d updates" % N)
    delivered = {m for m in first if all(r["delivered"] for r in a.json("status", m)["recipients"])}
    print("receipted before the kill: %d of %d" % (len(delivered), N))
    b.start()
    wait_until(lambda: len(held(b)) >= N + CASES, what="sv-b holds everything", timeout=60)
    have = held(b)
    t.check(delivered <= have, "every update sv-b had signed a receipt for survived SIGKILL")
    t.check(set(first) <= have, "and the rest arrived after the restart")

    # 2. The submitting post is killed while a client streams into it.
    client = subprocess.Popen([VALIJA, "--socket", a.socket, "submit", "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    client.stdin.write(lines(N, 5 * N))
    client.stdin.close()
    time.sleep(0.3)
    a.kill()
    printed = client.stdout.read().split()
    client.wait(timeout=60)
    print("ids printed before the kill: %d (client exit %d)" % (len(printed), client.returncode))
    a.start()
    have_a = held(a)
    t.check(set(printed) <= have_a, "every id the client saw is stored at mx-a after SIGKILL")
    wait_until(lambda: set(printed) <= held(b), what="sv-b gets them too", timeout=60)
    t.check(True, "every acknowledged id reaches sv-b after the restart")
    t.check(client.returncode != 0 or len(printed) == 5 * N,
            "a client cut off mid-stream reports failure")
t.done()
