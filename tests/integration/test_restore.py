#!/usr/bin/env python3
"""Back up a running post's store with SQLite's online backup, restore it
after more updates were sent, and the post goes on: it learns from its peers
how far its own numbering had gone and never reuses a number."""

import os
import shutil
import subprocess

from vjfed import Checks, Federation, wait_until

t = Checks("restore")
with Federation(["mx-a", "sv-b"]) as fed:
    fed.start_all()
    a, b = fed["mx-a"], fed["sv-b"]
    a.submit("--case", "B-1", "--status", "detained", "--share", "sv-b")
    db = os.path.join(a.dir, "data", "mx-a.db")
    backup = os.path.join(fed.root, "mx-a.backup")
    p = subprocess.run(["sqlite3", db, ".backup '%s'" % backup], capture_output=True, text=True)
    t.check(p.returncode == 0, "online backup while valijad runs (%s)" % p.stderr)
    os.chmod(backup, 0o600)
    later = [a.submit("--case", "B-1", "--note", "after the backup %d" % i) for i in range(3)]
    wait_until(lambda: len(b.history("B-1")) == 4, what="sv-b holds 4")

    t.check(a.stop() == 0, "mx-a stops")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    shutil.copyfile(backup, db)
    os.chmod(db, 0o600)
    a.start()
    t.check(len(a.history("B-1")) == 1, "the restored store holds what the backup held")
    wait_until(lambda: len(a.history("B-1")) == 4, what="sv-b hands back mx-a's lost updates")
    t.check({e["msg_id"] for e in a.history("B-1")} >= set(later),
            "the updates the restore lost come back from sv-b, verified as mx-a's own")
    m = a.submit("--case", "B-1", "--note", "after the restore")
    wait_until(lambda: m in {e["msg_id"] for e in b.history("B-1")}, what="new update at sv-b")
    h = b.history("B-1")
    t.check(len(h) == 5 and len({e["seq"] for e in h if e["origin"] == "mx-a"}) == 5,
            "the new update arrives under a fresh number; none is reused")
    t.check("reused sequence" not in b.log(), "sv-b never saw a reused number")
t.done()
