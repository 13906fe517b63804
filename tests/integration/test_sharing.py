#!/usr/bin/env python3
"""Sharing: a case reaches only the posts it is shared with; widening the
share gives the added post the whole earlier history, each update signed by
its own author; narrowing stops future updates; only the owner (or a
co-owner) may change sharing."""

from vjfed import Checks, Federation, wait_until

t = Checks("sharing")
with Federation(["mx-a", "sv-b", "gt-c"]) as fed:
    fed.start_all()
    a, b, c = fed["mx-a"], fed["sv-b"], fed["gt-c"]
    ids = [a.submit("--case", "S-1", "--status", "detained", "--facility", "Dilley",
                    "--share", "sv-b", "--name", "Luis Ortega", "--minor", "yes")]
    wait_until(lambda: b.case("S-1") is not None, what="S-1 at sv-b")
    for i in range(3):
        ids.append(a.submit("--case", "S-1", "--note", "mx note %d" % i))
    for i in range(2):
        ids.append(b.submit("--case", "S-1", "--note", "sv note %d" % i))
    wait_until(lambda: len(a.history("S-1")) == 6 and len(b.history("S-1")) == 6,
               what="both hold 6 updates")
    t.check(c.case("S-1") is None and c.history("S-1") == [],
            "gt-c, not shared, has nothing of the case")

    rc, out, err = b.valija("submit", "--case", "S-1", "--kind", "share", "--share", "sv-b,gt-c")
    t.check(rc == 77 and "owner" in err, "a post that is not the owner cannot widen the share")

    rc, out, err = a.valija("submit", "--case", "S-1", "--kind", "share", "--share", "sv-b,gt-c")
    t.check(rc == 0, "the owner widens the share to gt-c")
    ids.append(out.strip())
    wait_until(lambda: len(c.history("S-1")) == 7, what="gt-c receives the whole history",
               timeout=30)
    h = c.history("S-1")
    t.check(sorted(e["msg_id"] for e in h) == sorted(ids),
            "gt-c holds exactly the 7 updates, under their original message ids")
    t.check(all(e["verified"] for e in h), "every earlier update verified at gt-c")
    t.check(sorted(e["origin"] for e in h).count("sv-b") == 2,
            "sv-b's updates arrive signed by sv-b itself")
    states = [p.json("case", "S-1") for p in (a, b, c)]
    for s in states:
        s.pop("updated_at", None)
    t.check(states[0] == states[1] == states[2], "the case reads the same at all three posts")
    t.check(len(states[2]["notes"]) == 5, "gt-c sees all five earlier notes")

    # Narrowing: gt-c keeps what it has, and gets nothing new.
    rc, out, err = a.valija("submit", "--case", "S-1", "--kind", "share", "--share", "sv-b")
    t.check(rc == 0 and "recall" in err, "narrowing works and says nothing can be recalled")
    narrow = out.strip()
    a.submit("--case", "S-1", "--note", "after narrowing")
    wait_until(lambda: len(b.history("S-1")) == 9, what="sv-b gets the later updates")
    wait_until(lambda: len(c.history("S-1")) == 8, what="gt-c learns it was removed")
    hc = c.history("S-1")
    t.check(hc[-1]["msg_id"] == narrow and hc[-1]["kind"] == "share",
            "gt-c receives only the share update that removed it (who the case is shared with)")
    t.check(all(e.get("note") != "after narrowing" for e in hc),
            "gt-c gets no update of the case after it was removed")
    rc, out, err = a.valija("submit", "--case", "S-1", "--kind", "share", "--share", "sv-b",
                            "--note", "also a note")
    t.check(rc == 65 and "only the share" in err,
            "a share update may carry nothing but the lists (it goes to former posts too)")
    t.check("gt-c" not in a.json("case", "S-1")["shared_with"], "the case no longer lists gt-c")
t.done()
