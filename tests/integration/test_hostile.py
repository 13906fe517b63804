#!/usr/bin/env python3
"""Hostile peers: an unknown transport key is refused even with valid CURVE
keys; a configured peer's forged, tampered, truncated, replayed or malformed
frames are refused and logged, and nothing of them is stored."""

import os
import subprocess

from vjfed import VALIJA_KEYS, Checks, Federation, run, wait_until

PROBE = os.environ["VJ_PROBE"]

t = Checks("hostile")
with Federation(["mx-a", "sv-b"]) as fed:
    fed.start_all()
    victim = fed["mx-a"]
    intruder_key = os.path.join(fed.root, "intruder.key")
    forger_key = os.path.join(fed.root, "forger.key")
    rc, _, err = run([VALIJA_KEYS, "generate", "xx-intruder", "-o", intruder_key])
    assert rc == 0, err
    # The forger has the real peer's name, but keys of its own.
    rc, _, err = run([VALIJA_KEYS, "generate", "sv-b", "-o", forger_key])
    assert rc == 0, err

    rc, out, err = run([PROBE, "connect", intruder_key, victim.card, victim.endpoint])
    t.check(out.strip() == "refused", "an unknown transport key is refused (got %r)" % out)
    wait_until(lambda: "refused a connection" in victim.log(), what="refusal logged")
    t.check("transport key of no configured peer" in victim.log(),
            "the victim logs why it refused the connection")

    rc, out, err = run([PROBE, "connect", fed["sv-b"].key, victim.card, victim.endpoint])
    t.check(out.strip() == "admitted", "a configured peer's key is admitted (got %r)" % out)

    rc, out, err = run([PROBE, "hostile", fed["sv-b"].key, forger_key, victim.card,
                        victim.endpoint, "PROBE"], timeout=60)
    steps = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    t.check(steps.get("valid") == "receipt", "a valid envelope gets a signed receipt")
    t.check(steps.get("replay") == "receipt", "a replayed envelope is acknowledged again")
    t.check(steps.get("hello-exhaust") == "nothing",
            "a Hello claiming our own updates is taken silently (only a hint)")
    t.check(steps.get("hello-duplicate-marks") == "reject", "a Hello repeating an origin is rejected")
    for step in ("tampered", "forged", "truncated", "garbage", "version"):
        t.check(steps.get(step) == "reject", "a %s frame is rejected (got %r)" % (step, steps.get(step)))

    h = victim.history("PROBE-VALID")
    t.check(len(h) == 1 and h[0]["verified"] is True, "the valid update is stored once, verified")
    for step in ("TAMPERED", "FORGED", "TRUNCATED"):
        rc, _, _ = victim.valija("case", "PROBE-" + step)
        t.check(rc == 1, "nothing of the %s envelope is stored" % step.lower())
    log = victim.log()
    t.check(log.count("refused an envelope from sv-b") >= 3,
            "each refused envelope is logged with the authenticated sender")
    t.check("refused a frame from sv-b" in log, "malformed frames are logged")
    t.check(steps.get("flood") == "50 of 50 rejected", "a flood of garbage is refused frame by frame")
    lines = log.count("refused a frame from sv-b") + log.count("refused an envelope from sv-b")
    t.check(lines <= 20, "but the log keeps at most 20 refusal lines a minute per peer (%d)" % lines)

    # The real link still works after all that, and the victim's numbering
    # was not moved by the unsigned claim.
    msg = fed["sv-b"].submit("--case", "AFTER-1", "--status", "detained", "--share", "mx-a")
    wait_until(lambda: victim.case("AFTER-1") is not None, what="update after the attack")
    t.check(True, "the link still delivers after the hostile frames")
    victim.submit("--case", "AFTER-2", "--status", "detained", "--share", "sv-b")
    h = victim.history("AFTER-2")
    t.check(len(h) == 1 and h[0]["seq"] < 100,
            "the victim still numbers its own updates from where it was (seq %s)"
            % (h[0]["seq"] if h else None))
t.done()
