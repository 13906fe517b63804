#!/usr/bin/env python3
"""A post that is down while updates are sent receives each of them exactly
once after it restarts; a post that never hears of a case never gets it."""

from vjfed import Checks, Federation, wait_until

t = Checks("outage")
with Federation(["mx-a", "sv-b", "gt-c"]) as fed:
    fed.start_all()
    a, b, c = fed["mx-a"], fed["sv-b"], fed["gt-c"]
    a.submit("--case", "OUT-1", "--status", "detained", "--share", "sv-b,gt-c")
    wait_until(lambda: c.case("OUT-1") is not None, what="OUT-1 at gt-c")
    wait_until(lambda: all(p["backlog"] == 0 for p in a.json("peers")),
               what="mx-a holds gt-c's receipt for it")
    t.check(c.stop() == 0, "gt-c stops")

    sent = []
    for i in range(25):
        sent.append(a.submit("--case", "OUT-1", "--note", "note %d" % i))
    for i in range(5):
        sent.append(b.submit("--case", "OUT-1", "--note", "from b %d" % i))
    # A case that gt-c is not shared with, written during the outage.
    a.submit("--case", "PRIVATE-1", "--status", "detained", "--share", "sv-b")
    wait_until(lambda: len(b.history("OUT-1")) == 31, what="sv-b has all updates")
    backlog = {p["post"]: p["backlog"] for p in a.json("peers")}
    t.check(backlog["gt-c"] == 25, "mx-a holds 25 updates for gt-c while it is down (got %r)" % backlog)
    t.check(backlog["sv-b"] == 0, "mx-a owes sv-b nothing")

    c.start()
    wait_until(lambda: len(c.history("OUT-1")) == 31, what="gt-c caught up", timeout=40)
    h = c.history("OUT-1")
    ids = [e["msg_id"] for e in h]
    t.check(len(ids) == len(set(ids)), "no update arrives twice")
    t.check(set(sent) <= set(ids), "every update sent during the outage arrived")
    t.check(all(e["verified"] for e in h), "all verified")
    notes = c.json("case", "OUT-1")["notes"]
    t.check(len(notes) == 30, "the case at gt-c shows all 30 notes (got %d)" % len(notes))
    wait_until(lambda: all(p["backlog"] == 0 for p in a.json("peers")), what="mx-a outbox empty")
    t.check(True, "mx-a's outbox drains once gt-c is back")
    t.check(c.case("PRIVATE-1") is None and b.case("PRIVATE-1") is not None,
            "a case not shared with gt-c never reaches it")
    t.check(c.json("list", "--shared-with", "gt-c") and
            all(x["case"] != "PRIVATE-1" for x in c.json("list")), "gt-c lists only its cases")
t.done()
