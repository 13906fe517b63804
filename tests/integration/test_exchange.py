#!/usr/bin/env python3
"""Three posts exchange case updates in every direction; each arrives
verified, the case reads the same everywhere, and the sender holds a signed
receipt from every recipient."""

from vjfed import Checks, Federation, wait_until

t = Checks("exchange")
with Federation(["mx-washington", "sv-washington", "gt-houston"]) as fed:
    fed.start_all()
    names = ["mx-washington", "sv-washington", "gt-houston"]
    wait_until(lambda: all(p["connected"] for n in names for p in fed[n].json("peers")),
               what="all links up")

    # A case opened at each post, shared with the two others.
    ids = {}
    for n in names:
        others = ",".join(x for x in names if x != n)
        case = "CASE-" + n.upper()
        ids[n] = fed[n].submit("--case", case, "--status", "detained",
                               "--facility", "Port Isabel", "--share", others,
                               "--name", "Ana Lopez", "--minor", "yes")
        t.check(len(ids[n]) == 32, "submit at %s prints a 32-hex message id" % n)

    # Every post gets every case, verified, with the same state.
    for n in names:
        case = "CASE-" + n.upper()
        for m in names:
            wait_until(lambda: fed[m].case(case) is not None, what="%s at %s" % (case, m))
        states = [fed[m].json("case", case) for m in names]
        t.check(all(s["status"] == "detained" and s["facility"] == "Port Isabel" for s in states),
                "%s reads the same at all three posts" % case)
        t.check(all(sorted(s["shared_with"]) == sorted(names) for s in states),
                "%s is shared with all three posts everywhere" % case)
        for m in names:
            h = fed[m].history(case)
            t.check(len(h) == 1 and h[0]["verified"] is True and h[0]["origin"] == n
                    and h[0]["msg_id"] == ids[n] and h[0]["kind"] == "opened",
                    "%s at %s: one verified update from %s" % (case, m, n))

    # An update from another post than the opener, in the other direction.
    upd = fed["gt-houston"].submit("--case", "CASE-MX-WASHINGTON", "--facility", "Karnes",
                                   "--note", "moved overnight")
    for m in names:
        wait_until(lambda: fed[m].json("case", "CASE-MX-WASHINGTON")["facility"] == "Karnes",
                   what="location update at %s" % m)
    t.check(all(fed[m].json("case", "CASE-MX-WASHINGTON")["status"] == "detained" for m in names),
            "a location update leaves the status as it was")

    # Signed receipts: the sender knows each recipient stored it, and when.
    def delivered():
        s = fed["gt-houston"].json("status", upd)
        return s if all(r["delivered"] for r in s["recipients"]) else None
    s = wait_until(delivered, what="receipts for %s" % upd)
    t.check(sorted(r["post"] for r in s["recipients"]) == ["mx-washington", "sv-washington"],
            "status lists exactly the other two recipients")
    t.check(all(r["receipt_at"] for r in s["recipients"]), "each receipt has a time")
    import base64
    raw_id = bytes.fromhex(upd)
    t.check(all(len(base64.b64decode(r["receipt_signature"])) == 64 and
                raw_id in base64.b64decode(r["receipt"]) for r in s["recipients"]),
            "each recipient's signed receipt is shown, covering this message id")

    peers = fed["mx-washington"].json("peers")
    t.check(sorted(p["post"] for p in peers) == ["gt-houston", "sv-washington"],
            "peers lists the configured peers")
    t.check(all(p["backlog"] == 0 for p in peers), "nothing left in the outbox")

    for n in names:
        rc = fed[n].stop()
        t.check(rc == 0, "%s stops cleanly on SIGTERM" % n)
        t.check("stopped cleanly" in fed[n].log(), "%s logs a clean stop" % n)
        t.check("Ana Lopez" not in fed[n].log() and "Port Isabel" not in fed[n].log(),
                "%s's log holds no case content" % n)
t.done()
