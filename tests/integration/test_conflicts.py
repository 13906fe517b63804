#!/usr/bin/env python3
"""Concurrent writes to one field at two posts end in the same state at
both, shown as a conflict with both values and their authors until a later
update settles it; an update its origin was not allowed to make is rejected
the same way at every post, and the history says why."""

from vjfed import Checks, Federation, wait_until

t = Checks("conflicts")
with Federation(["mx-a", "sv-b"]) as fed:
    fed.start_all()
    a, b = fed["mx-a"], fed["sv-b"]
    a.submit("--case", "K-1", "--status", "detained", "--facility", "Port Isabel",
             "--share", "sv-b", "--co-owners", "sv-b")
    wait_until(lambda: b.case("K-1") is not None, what="K-1 at sv-b")
    wait_until(lambda: all(p["backlog"] == 0 for p in a.json("peers")), what="receipts")

    # Partition: each writes the status without having seen the other's.
    b.stop()
    a.submit("--case", "K-1", "--status", "released")
    a.stop()
    b.start()
    b.submit("--case", "K-1", "--status", "transferred")
    a.start()
    wait_until(lambda: len(a.history("K-1")) == 3 and len(b.history("K-1")) == 3,
               what="both hold both writes")
    sa, sb = a.json("case", "K-1"), b.json("case", "K-1")
    t.check(sa["status"] == sb["status"], "both posts show the same status (%s)" % sa["status"])
    conflict = [c for c in sa["conflicts"] if c["field"] == "status"]
    t.check(len(conflict) == 1 and
            sorted((v["value"], v["origin"]) for v in conflict[0]["values"]) ==
            [("released", "mx-a"), ("transferred", "sv-b")],
            "the conflict shows both values and who wrote each")
    t.check(sa["conflicts"] == sb["conflicts"], "the same conflict at both posts")
    t.check([x["case"] for x in a.json("list", "--conflicts")] == ["K-1"],
            "list --conflicts finds it")
    t.check(sa["facility"] == "Port Isabel" and not [c for c in sa["conflicts"]
                                                     if c["field"] == "facility"],
            "a field only one side wrote is not in conflict")

    # A later update that saw both settles it, everywhere.
    a.submit("--case", "K-1", "--status", "transferred", "--note", "checked with sv-b")
    wait_until(lambda: b.json("case", "K-1")["conflicts"] == [], what="settled at sv-b")
    t.check(a.json("case", "K-1")["conflicts"] == [] and a.json("list", "--conflicts") == [],
            "a later update settles the conflict")

    # Authority: mx-a (owner) removes sv-b as co-owner while sv-b, not yet
    # knowing, closes the case after more of its own updates.
    wait_until(lambda: all(p["backlog"] == 0 for p in a.json("peers")), what="receipts")
    b.stop()
    a.submit("--case", "K-1", "--kind", "share", "--share", "sv-b", "--co-owners", "mx-a")
    a.stop()
    b.start()
    for i in range(4):
        b.submit("--case", "K-1", "--note", "visit %d" % i)
    closed = b.submit("--case", "K-1", "--kind", "closed")
    a.start()
    def verdicts(post):
        return {e["msg_id"]: (e["applied"], e.get("reason")) for e in post.history("K-1")}
    wait_until(lambda: closed in verdicts(a) and len(verdicts(b)) == len(verdicts(a)),
               what="both hold every update")
    va, vb = verdicts(a)[closed], verdicts(b)[closed]
    t.check(va[0] is False and vb[0] is False,
            "sv-b's close, made after it lost co-ownership, is rejected at both posts")
    t.check(va == vb and va[1] and "owner" in va[1],
            "the history gives the same reason at both (%r)" % (va[1],))
    t.check(a.json("case", "K-1")["closed"] is False and b.json("case", "K-1")["closed"] is False,
            "the case stays open everywhere")
t.done()
