"""vjfed - a local federation of valija posts for the integration tests.

Builds identities with valija-keys, exchanges cards, writes configs and
starts real valijad processes on 127.0.0.1, each in its own folder inside a
temporary directory.  Every process it starts is stopped by PID at the end.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("VJ_BUILD_ROOT") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
VALIJAD = os.path.join(BUILD, "daemon", "valijad")
VALIJA = os.path.join(BUILD, "client", "valija")
VALIJA_KEYS = os.path.join(BUILD, "keys", "valija-keys")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, stdin=None, timeout=30, env=None):
    p = subprocess.run(args, input=stdin, capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


class Post:
    def __init__(self, fed, name):
        self.fed = fed
        self.name = name
        self.dir = os.path.join(fed.root, name)
        self.port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.socket_path = os.path.join(self.dir, "run", "valijad.sock")
        self.socket = "ipc://" + self.socket_path
        self.config = os.path.join(self.dir, "valijad.conf")
        self.key = os.path.join(self.dir, "keys", name + ".key")
        self.card = os.path.join(fed.root, "cards", name + ".card")
        self.log_path = os.path.join(self.dir, "valijad.log")
        self.proc = None
        self.peers = []
        os.makedirs(os.path.join(self.dir, "keys"), mode=0o700)
        os.makedirs(os.path.join(self.dir, "peers"), mode=0o700)
        rc, out, err = run([VALIJA_KEYS, "generate", name, "-o", self.key])
        assert rc == 0, "valija-keys generate %s: %s" % (name, err)
        rc, out, err = run([VALIJA_KEYS, "card", self.key, "-o", self.card])
        assert rc == 0, "valija-keys card %s: %s" % (name, err)

    def write_config(self, peers, extra=""):
        self.peers = list(peers)
        lines = [
            'post = "%s";' % self.name,
            'secret_key = "keys/%s.key";' % self.name,
            'listen = "%s";' % self.endpoint,
            'client = "ipc://run/valijad.sock";',
            'store = "data/%s.db";' % self.name,
            "peers = (",
        ]
        entries = []
        for peer in peers:
            card = os.path.join(self.dir, "peers", peer.name + ".card")
            shutil.copyfile(peer.card, card)
            entries.append('  { name = "%s"; endpoint = "%s"; card = "peers/%s.card"; }'
                           % (peer.name, peer.endpoint, peer.name))
        lines.append(",\n".join(entries))
        lines.append(");")
        lines.append("limits = { max_message_bytes = 1048576; retry_max_seconds = 5; };")
        if extra:
            lines.append(extra)
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, wait=True, args=()):
        assert self.proc is None
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([VALIJAD, "-v", "-c", self.config] + list(args),
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.fed.started.append(self.proc)
        if wait:
            deadline = time.time() + 15
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError("valijad %s exited with %d:\n%s" % (
                        self.name, self.proc.returncode, self.log()))
                if os.path.exists(self.socket_path):
                    rc, _, _ = self.valija("peers")
                    if rc == 0:
                        return
                time.sleep(0.05)
            raise AssertionError("valijad %s did not start:\n%s" % (self.name, self.log()))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops this post's daemon by PID; returns its exit code."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("valijad %s did not stop within %ds" % (self.name, timeout))
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def valija(self, *args, stdin=None, timeout=30):
        return run([VALIJA, "--socket", self.socket] + list(args), stdin=stdin,
                   timeout=timeout)

    def json(self, *args, stdin=None):
        rc, out, err = self.valija("--json", *args, stdin=stdin)
        assert rc == 0, "valija %s at %s: exit %d: %s" % (" ".join(args), self.name, rc, err)
        return json.loads(out)

    def json_lines(self, *args):
        rc, out, err = self.valija("--json", *args)
        assert rc == 0, "valija %s at %s: exit %d: %s" % (" ".join(args), self.name, rc, err)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def submit(self, *args):
        rc, out, err = self.valija("submit", *args)
        assert rc == 0, "submit at %s: exit %d: %s" % (self.name, rc, err)
        return out.strip()

    def history(self, case_id):
        rc, out, err = self.valija("--json", "history", case_id)
        if rc == 1:
            return []
        assert rc == 0, "history at %s: exit %d: %s" % (self.name, rc, err)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def case(self, case_id):
        rc, out, err = self.valija("--json", "case", case_id)
        if rc == 1:
            return None
        assert rc == 0, "case at %s: exit %d: %s" % (self.name, rc, err)
        return json.loads(out)


class Federation:
    """Posts that all know each other (a full mesh) unless told otherwise."""

    def __init__(self, names, mesh=True):
        self.root = tempfile.mkdtemp(prefix="vjfed-")
        os.makedirs(os.path.join(self.root, "cards"))
        self.started = []
        self.posts = {}
        for name in names:
            self.posts[name] = Post(self, name)
        if mesh:
            for post in self.posts.values():
                post.write_config([p for p in self.posts.values() if p is not post])

    def __getitem__(self, name):
        return self.posts[name]

    def start_all(self):
        for post in self.posts.values():
            post.start()

    def close(self):
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            for post in self.posts.values():
                sys.stderr.write("---- log of %s ----\n%s\n" % (post.name, post.log()[-6000:]))
        self.close()
        return False


def wait_until(predicate, timeout=20, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


class Checks:
    """Counts checks and prints 'N passed, N failed'-style lines per test."""

    def __init__(self, name):
        self.name = name
        self.failed = 0
        self.passed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
            print("ok   - %s" % what)
        else:
            self.failed += 1
            print("FAIL - %s" % what)

    def done(self):
        print("%s: %d checks passed, %d failed" % (self.name, self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
