#!/usr/bin/env python3
"""watch follows new updates as they arrive; SIGHUP re-reads the peers (a
broken file is refused and the old peers kept)."""

import json
import os
import signal
import subprocess
import time

from vjfed import VALIJA, Checks, Federation, wait_until

t = Checks("watch_reload")
with Federation(["mx-a", "sv-b", "gt-c"], mesh=False) as fed:
    a, b, c = fed["mx-a"], fed["sv-b"], fed["gt-c"]
    a.write_config([b])
    b.write_config([a])
    c.write_config([a])
    fed.start_all()
    wait_until(lambda: a.json("peers")[0]["connected"], what="mx-a <-> sv-b")

    watch = subprocess.Popen([VALIJA, "--socket", b.socket, "--json", "watch"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fed.started.append(watch)
    time.sleep(0.5)
    m1 = a.submit("--case", "W-1", "--status", "detained", "--share", "sv-b")
    m2 = a.submit("--case", "W-1", "--facility", "Otay Mesa")
    lines = [json.loads(watch.stdout.readline()) for _ in range(2)]
    t.check([x["msg_id"] for x in lines] == [m1, m2], "watch prints each new update in order")
    t.check(all(x["verified"] and x["origin"] == "mx-a" for x in lines),
            "watched updates are verified, with their origin")
    watch.send_signal(signal.SIGINT)
    t.check(watch.wait(timeout=10) == 0, "watch ends cleanly on SIGINT")

    # SIGHUP with a broken file: refused, old peers kept.
    good = open(a.config).read()
    with open(a.config, "w") as f:
        f.write(good + "bogus = 1;\n")
    a.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "configuration not reloaded" in a.log(), what="refusal logged")
    t.check(a.proc.poll() is None and [p["post"] for p in a.json("peers")] == ["sv-b"],
            "a broken file on SIGHUP keeps the daemon and its peers")

    # SIGHUP with gt-c added: the new peer links up and gets cases.
    a.write_config([b, c])
    a.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: any(p["post"] == "gt-c" and p["connected"] for p in a.json("peers")),
               what="gt-c linked after SIGHUP")
    t.check(True, "SIGHUP adds a peer without a restart")
    a.submit("--case", "W-2", "--status", "released", "--share", "gt-c")
    wait_until(lambda: c.case("W-2") is not None, what="W-2 at gt-c")
    t.check(c.json("case", "W-2")["status"] == "released", "the new peer receives its cases")

    # SIGHUP with sv-b removed: mx-a no longer admits it.
    a.write_config([c])
    before = a.log().count("refused a connection")
    a.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: [p["post"] for p in a.json("peers")] == ["gt-c"], what="sv-b removed")
    b.stop()
    b.start()   # sv-b still lists mx-a and tries to connect
    wait_until(lambda: a.log().count("refused a connection") > before,
               what="mx-a refuses the removed peer")
    t.check("transport key of no configured peer" in a.log().split("now 1 peers")[-1],
            "a peer removed on SIGHUP is refused at once")
    rc, out, err = a.valija("submit", "--case", "W-3", "--status", "detained", "--share", "sv-b")
    t.check(rc == 77 and "sv-b" in err, "and cases can no longer be shared with it")
    t.check(a.stop() == 0, "mx-a stops cleanly")
t.done()
