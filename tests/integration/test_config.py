#!/usr/bin/env python3
"""valijad -n checks the configuration and keys; a broken configuration is
refused, naming the file, the line and the setting."""

import os

from vjfed import VALIJAD, Checks, Federation, free_port, run

t = Checks("config")
with Federation(["mx-a", "sv-b"]) as fed:
    a, b = fed["mx-a"], fed["sv-b"]
    rc, out, err = run([VALIJAD, "-n", "-c", a.config])
    t.check(rc == 0 and out.strip() == "configuration OK", "a good configuration is OK")

    good = open(a.config).read()
    broken = good.replace('listen = "', 'listen = 7401; # "', 1)
    open(a.config, "w").write(broken)
    rc, out, err = run([VALIJAD, "-n", "-c", a.config])
    t.check(rc == 78 and "valijad.conf:3" in err and "listen" in err,
            "a wrong type is refused with file:line and setting (got %r)" % err)
    rc, out, err = run([VALIJAD, "-c", a.config])
    t.check(rc == 78, "valijad refuses to start on it too")

    open(a.config, "w").write(good + "colour = \"blue\";\n@include \"/etc/passwd\"\n")
    rc, out, err = run([VALIJAD, "-n", "-c", a.config])
    t.check(rc == 78 and "@include" in err, "@include is refused")

    open(a.config, "w").write(good.replace("post =", "post_name =", 1) + "colour = \"blue\";\n")
    rc, out, err = run([VALIJAD, "-n", "-c", a.config])
    t.check(rc == 78 and "colour" in err and "post" in err and len(err.strip().splitlines()) >= 2,
            "every problem is reported, unknown settings included")

    open(a.config, "w").write(good)
    os.chmod(a.key, 0o644)
    rc, out, err = run([VALIJAD, "-n", "-c", a.config])
    t.check(rc == 78 and "chmod" in err, "a secret key others can read is refused")
    os.chmod(a.key, 0o600)

    card = os.path.join(a.dir, "peers", "sv-b.card")
    text = open(card).read().replace("post: sv-b", "post: sv-c")
    open(card, "w").write(text)
    rc, out, err = run([VALIJAD, "-n", "-c", a.config])
    t.check(rc == 78 and "sv-b" in err, "a tampered peer card is refused")

    rc, out, err = run([VALIJAD, "-n", "-c", os.path.join(fed.root, "missing.conf")])
    t.check(rc in (66, 78) and "missing.conf" in err, "a missing file is named")

    # A second valijad on the same store (or socket) refuses to start.
    open(card, "w").write(open(b.card).read())
    a.start()
    rc, out, err = run([VALIJAD, "-c", a.config], timeout=20)
    t.check(rc == 75 and "another valijad" in err,
            "a second daemon on the same store refuses to start (%d)" % rc)
    t.check(a.valija("peers")[0] == 0, "and the first one keeps serving")
    other = os.path.join(a.dir, "other.conf")
    text = open(a.config).read().replace('store = "data/mx-a.db"', 'store = "data/other.db"')
    text = text.replace(a.endpoint, "tcp://127.0.0.1:%d" % free_port())
    open(other, "w").write(text)
    rc, out, err = run([VALIJAD, "-c", other], timeout=20)
    t.check(rc == 75 and "already serves clients" in err,
            "a daemon with another store never takes over a live client socket (%d)" % rc)
    t.check(a.valija("peers")[0] == 0, "the first one still serves its clients")
t.done()
