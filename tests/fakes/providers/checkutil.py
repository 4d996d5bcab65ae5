"""Helpers for the official-client checks: start a fake, read its stats, set its mode."""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class Fake:
    def __init__(self, script, tls=False):
        self.dir = tempfile.mkdtemp(prefix="reelsmith-check-")
        args = [sys.executable, os.path.join(HERE, script), "--dir", self.dir] + (["--tls"] if tls else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            raise SystemExit(f"{script} did not start: {line!r}")
        self.port = int(line.split()[1])
        self.scheme = "https" if tls else "http"
        self.cert = os.path.join(self.dir, "cert.pem") if tls else None

    @property
    def base(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def clip(self):
        with open(os.path.join(self.dir, "clip.mp4"), "rb") as f:
            return f.read()

    def _open(self, req):
        import ssl
        ctx = ssl.create_default_context(cafile=self.cert) if self.cert else None
        return urllib.request.urlopen(req, context=ctx, timeout=10)

    def stats(self):
        return json.load(self._open(self.base + "/__fake/stats"))

    def last(self):
        return json.load(self._open(self.base + "/__fake/last"))

    def set(self, **mode):
        req = urllib.request.Request(self.base + "/__fake/mode", data=json.dumps(mode).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        self._open(req).read()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def need(module, pip_name):
    # find_spec, not import: some clients read their host settings at import time.
    import importlib.util
    if importlib.util.find_spec(module) is None:
        sys.stderr.write(f"{pip_name} is not installed: run scripts/setup --test (pip install {pip_name})\n")
        sys.exit(3)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
