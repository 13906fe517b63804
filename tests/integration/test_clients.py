#!/usr/bin/env python3
"""Malformed client requests get clear errors and change nothing; the CLI
maps failures to sysexits codes."""

import os

from vjfed import VALIJA, Checks, Federation, run

PROBE = os.environ["VJ_PROBE"]

t = Checks("clients")
with Federation(["mx-a", "sv-b"]) as fed:
    fed.start_all()
    a = fed["mx-a"]
    rc, out, err = run([PROBE, "client", a.socket])
    steps = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    for step in ("garbage", "empty", "no-verb", "multipart", "bad-case-id", "control-chars"):
        t.check(steps.get(step, "").startswith("status 2: ") and len(steps[step]) > 12,
                "%s request: bad request, with a reason (got %r)" % (step, steps.get(step)))
    t.check(steps.get("version", "").startswith("status 5: "), "unknown protocol version is named")
    t.check(steps.get("close-unknown-case", "").startswith("status 3: "),
            "closing a case that does not exist is refused by the case rules")
    t.check(a.json("list") == [], "nothing was stored by the malformed requests")
    t.check(a.valija("peers")[0] == 0, "the daemon still answers")

    rc, out, err = a.valija("submit", "--status", "detained")
    t.check(rc == 64 and "--case" in err, "submit without --case: usage error 64")
    rc, out, err = a.valija("case", "NO-SUCH-CASE")
    t.check(rc == 1, "an unknown case: exit 1")
    rc, out, err = a.valija("status", "zz")
    t.check(rc in (64, 65) and err, "a malformed message id: exit 64/65 with a message")
    rc, out, err = run([VALIJA, "--socket", "ipc://" + fed.root + "/nobody/here.sock", "peers"])
    t.check(rc == 69 and "valijad" in err, "no daemon: exit 69 and says so")
    rc, out, err = a.valija("submit", "--case", "C-1", "--share", "zz-unknown")
    t.check(rc == 77 and "zz-unknown" in err, "sharing with a post without a card is refused (77)")
    rc, out, err = a.valija("submit", "-", stdin='{"case": "C-2", "status": "detained"}\n{"case": 5}\n')
    t.check(rc == 65 and "line 2" in err, "a bad JSON line is named and nothing is submitted")
    t.check(a.json("list") == [], "still nothing stored")
t.done()
