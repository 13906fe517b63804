#!/usr/bin/env python3
"""Catch-up by relay: a post that comes back gets the updates it missed from
any peer that holds them, signed by their origin, even while the origin
itself is down."""

from vjfed import Checks, Federation, wait_until

t = Checks("relay")
with Federation(["mx-a", "sv-b", "gt-c"]) as fed:
    fed.start_all()
    a, b, c = fed["mx-a"], fed["sv-b"], fed["gt-c"]
    b.submit("--case", "R-1", "--status", "detained", "--share", "mx-a,gt-c")
    wait_until(lambda: c.case("R-1") is not None and a.case("R-1") is not None,
               what="R-1 everywhere")
    t.check(c.stop() == 0, "gt-c goes down")
    sent = [b.submit("--case", "R-1", "--note", "while gt-c was down %d" % i) for i in range(5)]
    wait_until(lambda: len(a.history("R-1")) == 6, what="mx-a holds all six")
    t.check(b.stop() == 0, "then sv-b, their origin, goes down too")

    c.start()
    wait_until(lambda: len(c.history("R-1")) == 6, what="gt-c catches up from mx-a", timeout=30)
    h = c.history("R-1")
    t.check(set(sent) <= {e["msg_id"] for e in h}, "gt-c got sv-b's updates while sv-b is down")
    t.check(all(e["verified"] and e["origin"] == "sv-b" for e in h),
            "they are verified as sv-b's own, relayed unchanged")
    t.check("relayed 5 envelopes" in a.log(), "mx-a says it relayed them")
    states = [a.json("case", "R-1"), c.json("case", "R-1")]
    t.check(states[0]["notes"] == states[1]["notes"], "both show the same notes")

    b.start()
    wait_until(lambda: all(p["backlog"] == 0 for p in b.json("peers")),
               what="sv-b's outbox drains (gt-c receipts the duplicates)", timeout=30)
    t.check(len(c.history("R-1")) == 6, "nothing arrives twice when the origin returns")
t.done()
