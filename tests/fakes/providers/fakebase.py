"""Shared machinery for the provider fakes: a threaded stdlib HTTP server with fault modes.

Each fake (fal_fake.py, replicate_fake.py, ...) subclasses FakeHandler and serves its provider's
wire format. This module adds what every fake needs:

* A real small MP4 clip, made at start with ffmpeg `testsrc` (or taken from --clip PATH), served
  at /__fake/files/clip.mp4 so adapters download real video bytes.
* Control endpoints: GET /__fake/stats (counts of submissions, polls, cancels, downloads, all
  requests), GET /__fake/last and /__fake/bodies (the last, or every, recorded submission) and POST /__fake/finish (every unfinished job completes at its next poll) and
  POST /__fake/mode with JSON {"mode": ..., "count": n, "delay": s,
  "retry_after": s, "polls": n, "file_host": "localhost"}.
  Modes, applied to the next `count` provider requests (not control or file requests):
    ok          answer normally (the default)
    slow        sleep `delay` seconds, then answer normally
    fail        answer 500 with a JSON error
    rate_limit  answer 429 with `Retry-After: <retry_after>`
    unavailable answer 503 with `Retry-After: <retry_after>`
    malformed   answer 200 with a body that is not JSON
    echo_auth   answer 400 with the request's Authorization header in the body (proves the
                client never repeats a key from an error body)
  `job_fail` is not a request fault: with {"job_fail": true} the next jobs end as failed;
  with {"job_refuse": true} they end refused by the provider's content checker (fakes that
  document one, fal and Replicate, answer it in their provider's refusal format).
  `polls` is how many status polls a job takes before it completes (default 2).
  `file_host` makes result URLs name another host (e.g. "localhost" instead of 127.0.0.1), to
  test the download-host allowlist; `redirect_host` makes a fake that serves files itself
  (veo_fake.py) answer a download with a 302 to that host. Downloads from /__fake/files that
  carried a key are counted in `keyed_file_downloads`.
* --tls: serve HTTPS with a throwaway self-signed certificate for 127.0.0.1 and localhost made
  with openssl into the work dir (written to <dir>/cert.pem), for clients that insist on https.

Prints "READY <port>" on stdout once listening on 127.0.0.1 on a free port.
"""

import argparse
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs


class State:
    def __init__(self, clip_path):
        self.lock = threading.Lock()
        self.clip_path = clip_path
        self.stats = {"submissions": 0, "polls": 0, "cancels": 0, "downloads": 0, "requests": 0,
                      "keyed_file_downloads": 0}
        self.mode = {"mode": "ok", "count": 0, "delay": 0.0, "retry_after": 1}
        self.polls_to_complete = 2
        self.job_fail = False
        self.job_refuse = False
        self.extra = {}  # fake-specific switches, e.g. replicate_fake's "error_code"
        self.file_host = None
        self.redirect_host = None
        self.jobs = {}
        self.last_bodies = []

    def bump(self, key):
        with self.lock:
            self.stats[key] += 1

    def take_fault(self):
        """Returns the fault mode for this request, consuming one use of it."""
        with self.lock:
            if self.mode["mode"] != "ok" and self.mode["count"] > 0:
                self.mode["count"] -= 1
                return dict(self.mode)
            return None

    def new_job(self, **fields):
        job_id = uuid.uuid4().hex[:16]
        with self.lock:
            self.stats["submissions"] += 1
            self.jobs[job_id] = {
                "id": job_id,
                "polls": 0,
                "canceled": False,
                "fail": self.job_fail or self.job_refuse,
                "refuse": self.job_refuse,
                "need": self.polls_to_complete,
                **fields,
            }
        return self.jobs[job_id]

    def poll(self, job_id):
        """Advances a job one poll; returns (job, state) with state queued|running|done|failed|canceled."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None, None
            self.stats["polls"] += 1
            job["polls"] += 1
            return job, self._state(job)

    def peek(self, job_id):
        with self.lock:
            job = self.jobs.get(job_id)
            return (job, self._state(job)) if job else (None, None)

    @staticmethod
    def _state(job):
        if job["canceled"]:
            return "canceled"
        if job["polls"] >= job["need"]:
            return "failed" if job["fail"] else "done"
        return "queued" if job["polls"] == 0 else "running"


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None
    scheme = "http"

    def log_message(self, fmt, *args):  # quiet: tests read stdout for the port only
        pass

    # ---- helpers -------------------------------------------------------------------------
    def base_url(self, host=None):
        port = self.server.server_address[1]
        return f"{self.scheme}://{host or '127.0.0.1'}:{port}"

    def file_url(self, name="clip.mp4"):
        return f"{self.base_url(self.state.file_host)}/__fake/files/{name}"

    def body_bytes(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self):
        raw = self.body_bytes()
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_raw(status, data, "application/json", headers)

    def send_raw(self, status, data, ctype, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def path_parts(self):
        split = urlsplit(self.path)
        return split.path, parse_qs(split.query)

    # ---- dispatch ------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        path, query = self.path_parts()
        if path.startswith("/__fake/"):
            return self._control(method, path)
        if self.fault_exempt(path):
            return self.handle_provider(method, path, query)
        self.state.bump("requests")
        fault = self.state.take_fault()
        if fault:
            if fault["mode"] == "slow":
                time.sleep(float(fault["delay"]))
            elif fault["mode"] == "fail":
                self.body_bytes()
                return self.send_json(500, {"detail": "fake internal error", "error": "fake internal error"})
            elif fault["mode"] == "unavailable":
                self.body_bytes()
                return self.send_json(
                    503,
                    {"detail": "fake maintenance", "error": "fake maintenance"},
                    {"Retry-After": str(fault["retry_after"])},
                )
            elif fault["mode"] == "rate_limit":
                self.body_bytes()
                return self.send_json(
                    429,
                    {"detail": "rate limited", "error": "rate limited"},
                    {"Retry-After": str(fault["retry_after"])},
                )
            elif fault["mode"] == "malformed":
                self.body_bytes()
                return self.send_raw(200, b"{not json", "application/json")
            elif fault["mode"] == "echo_auth":
                self.body_bytes()
                auth = (self.headers.get("Authorization") or self.headers.get("x-goog-api-key")
                        or self.headers.get("xi-api-key") or "")
                return self.send_json(400, {"detail": f"bad request from {auth}", "error": f"bad {auth}"})
        self.handle_provider(method, path, query)

    def _control(self, method, path):
        if path == "/__fake/stats":
            with self.state.lock:
                return self.send_json(200, dict(self.state.stats))
        if path == "/__fake/bodies":
            with self.state.lock:
                return self.send_json(200, list(self.state.last_bodies))
        if path == "/__fake/last":
            with self.state.lock:
                return self.send_json(200, self.state.last_bodies[-1] if self.state.last_bodies else None)
        if path == "/__fake/mode" and method == "POST":
            body = self.json_body() or {}
            with self.state.lock:
                if "mode" in body:
                    self.state.mode = {
                        "mode": body["mode"],
                        "count": int(body.get("count", 1_000_000)),
                        "delay": float(body.get("delay", 0)),
                        "retry_after": body.get("retry_after", 1),
                    }
                if "polls" in body:
                    self.state.polls_to_complete = int(body["polls"])
                if "job_fail" in body:
                    self.state.job_fail = bool(body["job_fail"])
                if "job_refuse" in body:
                    self.state.job_refuse = bool(body["job_refuse"])
                if "error_code" in body:
                    self.state.extra["error_code"] = body["error_code"]
                if "file_host" in body:
                    self.state.file_host = body["file_host"]
                if "redirect_host" in body:
                    self.state.redirect_host = body["redirect_host"]
            return self.send_json(200, {"ok": True})
        if path == "/__fake/finish" and method == "POST":
            # Ends every unfinished job at its next poll (a webhook test: the result is ready
            # long before the client's next scheduled poll).
            self.body_bytes()
            with self.state.lock:
                for job in self.state.jobs.values():
                    job["need"] = min(job["need"], job["polls"] + 1)
            return self.send_json(200, {"ok": True})
        if path.startswith("/__fake/files/"):
            self.state.bump("downloads")
            if self.headers.get("Authorization") or self.headers.get("x-goog-api-key"):
                self.state.bump("keyed_file_downloads")
            name = path[len("/__fake/files/"):]
            if name.startswith("image-") and name.endswith(".jpg") and "/" not in name:
                # A still a fake made for one request (fal_fake's image apps).
                try:
                    with open(os.path.join(self.server.work_dir, name), "rb") as f:
                        return self.send_raw(200, f.read(), "image/jpeg")
                except FileNotFoundError:
                    return self.send_json(404, {"detail": "no such file"})
            with open(self.state.clip_path, "rb") as f:
                data = f.read()
            return self.send_raw(200, data, "video/mp4")
        self.send_json(404, {"detail": "no such control endpoint"})

    def record(self, body):
        with self.state.lock:
            self.state.last_bodies.append(body)

    def fault_exempt(self, path):  # overridden for side channels (ComfyUI's websocket)
        return False

    def handle_provider(self, method, path, query):  # overridden
        self.send_json(404, {"detail": "not found"})


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that timed out and hung up (the slow mode's purpose) is not an error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def make_clip(work_dir):
    """A real 1-second 160x90 H.264 MP4 so downloads carry real video bytes."""
    out = os.path.join(work_dir, "clip.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=10",
         "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart", out],
        check=True,
    )
    return out


def make_image(work_dir, name, colour, width, height):
    """A real JPEG of one colour (an ffmpeg colour name), `name` in the work dir."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c={colour}:s={width}x{height}",
         "-frames:v", "1", os.path.join(work_dir, name)],
        check=True,
    )


def make_cert(work_dir):
    cert = os.path.join(work_dir, "cert.pem")
    key = os.path.join(work_dir, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert,
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


def serve(handler_cls, description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clip", help="an MP4 to serve instead of making one with ffmpeg")
    parser.add_argument("--dir", help="work dir (clip, cert); a temporary one by default")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway cert")
    args = parser.parse_args()
    work_dir = args.dir or tempfile.mkdtemp(prefix="reelsmith-fake-")
    os.makedirs(work_dir, exist_ok=True)
    clip = args.clip or make_clip(work_dir)
    handler_cls.state = State(clip)
    server = QuietServer(("127.0.0.1", 0), handler_cls)
    server.work_dir = work_dir
    if args.tls:
        cert, key = make_cert(work_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        handler_cls.scheme = "https"
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        if not args.dir:
            shutil.rmtree(work_dir, ignore_errors=True)


def speak(text, work_dir, fmt="mp3"):
    """Real speech for the speech fakes: `text` read by espeak-ng, encoded by ffmpeg as `fmt`
    (mp3 or wav). Returns (audio bytes, duration in seconds)."""
    wav = os.path.join(work_dir, f"speech-{uuid.uuid4().hex[:8]}.wav")
    subprocess.run(["espeak-ng", "-w", wav, text], check=True, capture_output=True)
    with open(wav, "rb") as f:
        raw = f.read()
    # A PCM WAV from espeak-ng: 22050 Hz mono 16-bit after a 44-byte header.
    duration = max(0.0, (len(raw) - 44) / (22050 * 2))
    if fmt == "wav":
        os.remove(wav)
        return raw, duration
    out = wav[:-4] + "." + fmt
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", wav, "-c:a", "libmp3lame", "-b:a", "64k", out],
                   check=True)
    with open(out, "rb") as f:
        data = f.read()
    os.remove(wav)
    os.remove(out)
    return data, duration
