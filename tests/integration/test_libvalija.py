#!/usr/bin/env python3
"""libvalija serves a script author's own C program: installed with its
header and pkg-config file, an example program compiles against it with
nothing but `pkg-config --cflags --libs valija` and talks to a real post."""

import os
import subprocess
import tempfile

from vjfed import BUILD, Checks, Federation, wait_until

SOURCE = os.path.join(os.environ.get("VJ_SOURCE_ROOT", os.path.join(BUILD, "..")),
                      "client", "examples", "case_status.c")

t = Checks("libvalija")
with Federation(["mx-a", "sv-b"]) as fed, tempfile.TemporaryDirectory() as tmp:
    dest = os.path.join(tmp, "root")
    p = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--quiet"],
                       capture_output=True, text=True)
    t.check(p.returncode == 0, "meson install into a staging directory (%s)" % p.stderr[-300:])
    pcs = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs if f == "valija.pc"]
    headers = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs if f == "valija.h"]
    t.check(len(pcs) == 1 and len(headers) == 1, "valija.pc and valija.h are installed")
    # The staged .pc names the final prefix; point it at the staging tree,
    # as a packager's build would.
    pcdir = os.path.join(tmp, "pkgconfig")
    os.makedirs(pcdir)
    text = open(pcs[0]).read().replace("prefix=/", "prefix=" + dest + "/", 1)
    with open(os.path.join(pcdir, "valija.pc"), "w") as f:
        f.write(text)
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
    p = subprocess.run(["pkg-config", "--cflags", "--libs", "valija"],
                       capture_output=True, text=True, env=env)
    t.check(p.returncode == 0 and "-lvalija" in p.stdout, "pkg-config knows valija")
    flags = p.stdout.split()
    sanitize = os.environ.get("VJ_SANITIZE", "none")
    if sanitize != "none":
        flags.append("-fsanitize=" + sanitize)
    exe = os.path.join(tmp, "case_status")
    p = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", SOURCE, "-o", exe] + flags,
                       capture_output=True, text=True)
    t.check(p.returncode == 0, "the example compiles with only the installed header (%s)"
            % p.stderr[-500:])

    fed.start_all()
    a = fed["mx-a"]
    a.submit("--case", "LIB-1", "--status", "detained", "--facility", "Eloy", "--share", "sv-b")
    libdir = os.path.dirname(os.path.dirname(pcs[0]))
    run_env = dict(os.environ, VALIJA_SOCKET=a.socket, LD_LIBRARY_PATH=libdir)
    p = subprocess.run([exe, "LIB-1", "released"], capture_output=True, text=True, env=run_env,
                       timeout=30)
    fields = p.stdout.split()
    t.check(p.returncode == 0 and fields[1:3] == ["LIB-1", "released"] and len(fields[0]) == 32,
            "the program submits through libvalija and reads the case back (%r %r)"
            % (p.stdout, p.stderr))
    wait_until(lambda: fed["sv-b"].case("LIB-1") and
               fed["sv-b"].json("case", "LIB-1")["status"] == "released",
               what="the update reaches sv-b")
    t.check(True, "its update reaches the peer")
    p = subprocess.run([exe, "NO-SUCH", "released"], capture_output=True, text=True, env=run_env,
                       timeout=30)
    t.check(p.returncode != 0 and "case_status:" in p.stderr,
            "a refused update is reported by the library's message")
t.done()
