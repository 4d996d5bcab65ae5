"""A fake Replicate predictions API (api.replicate.com) for tests. See fakebase.py for control.

Wire format (https://replicate.com/docs/reference/http):
  POST /v1/predictions                          {"version": ..., "input": {...}, "webhook"?: ...}
  POST /v1/models/{owner}/{name}/predictions    {"input": {...}} (official models, by name)
  GET  /v1/predictions/{id}                     the prediction
  POST /v1/predictions/{id}/cancel              the prediction, now canceled
A prediction: {"id", "model", "version", "input", "logs", "output", "error", "status":
starting|processing|succeeded|failed|canceled, "created_at", "urls": {"get", "cancel", "web"}}.
`Prefer: wait` holds the create request until the prediction finishes (here: completes it at
once). A job ended with {"job_refuse": true} fails the way Replicate's models report flagged
content: `error` "(E005) The input or output was flagged as sensitive. ..."; {"error_code":
"E6716"} (POST /__fake/mode) makes failed jobs carry that documented code instead
(https://replicate.com/docs/reference/error-codes). Every request needs `Authorization: Bearer <token>` (or `Token <token>`).
"""

import datetime

from fakebase import FakeHandler, serve


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class ReplicateHandler(FakeHandler):
    def handle_provider(self, method, path, query):
        auth = self.headers.get("Authorization") or ""
        if not (auth.startswith("Bearer ") or auth.startswith("Token ")):
            self.body_bytes()
            return self.send_json(401, {"title": "Unauthenticated", "detail": "You did not pass an authentication token", "status": 401})
        parts = [p for p in path.split("/") if p]
        if method == "POST" and parts == ["v1", "predictions"]:
            return self.create(None)
        if method == "POST" and len(parts) == 5 and parts[:2] == ["v1", "models"] and parts[4] == "predictions":
            return self.create(parts[2] + "/" + parts[3])
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "predictions"]:
            job, st = self.state.poll(parts[2])
            if job is None:
                return self.send_json(404, {"title": "Not found", "detail": "Not found", "status": 404})
            return self.send_json(200, self.prediction(job, st))
        if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "predictions"] and parts[3] == "cancel":
            self.body_bytes()
            with self.state.lock:
                job = self.state.jobs.get(parts[2])
                if job is None:
                    return self.send_json(404, {"title": "Not found", "detail": "Not found", "status": 404})
                self.state.stats["cancels"] += 1
                if not job["polls"] >= job["need"]:
                    job["canceled"] = True
            job, st = self.state.peek(parts[2])
            return self.send_json(200, self.prediction(job, st))
        self.send_json(404, {"title": "Not found", "detail": f"no route for {method} {path}", "status": 404})

    def create(self, model):
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return self.send_json(422, {"title": "Invalid input", "detail": "input is required", "status": 422})
        if model is None and not body.get("version"):
            return self.send_json(422, {"title": "Invalid version", "detail": "version is required", "status": 422})
        self.record({"model": model, "body": body, "prefer": self.headers.get("Prefer")})
        version = body.get("version") or ""
        if ":" in version:  # "owner/name:version" is accepted as a version too
            model, version = version.split(":", 1)
        job = self.state.new_job(model=model or "fake/model", version=version, input=body["input"], created=now())
        if (self.headers.get("Prefer") or "").startswith("wait"):
            with self.state.lock:  # Prefer: wait holds the request until the output is ready
                job["polls"] = job["need"]
        _, st = self.state.peek(job["id"])
        self.send_json(201, self.prediction(job, st))

    def error(self, job):
        if job.get("refuse"):
            return "(E005) The input or output was flagged as sensitive. Please try again with different inputs."
        code = self.state.extra.get("error_code")
        if code:
            return f"{code}: fake generation failed"
        return "fake generation failed: content rejected"

    def prediction(self, job, st):
        status = {"queued": "starting", "running": "processing", "done": "succeeded",
                  "failed": "failed", "canceled": "canceled"}[st]
        base = f"{self.base_url()}/v1/predictions/{job['id']}"
        return {
            "id": job["id"],
            "model": job["model"],
            "version": job["version"],
            "input": job["input"],
            "logs": "",
            "output": self.file_url() if st == "done" else None,
            "data_removed": False,
            "error": self.error(job) if st == "failed" else None,
            "status": status,
            "created_at": job["created"],
            "urls": {"get": base, "cancel": base + "/cancel", "web": f"{self.base_url()}/p/{job['id']}"},
        }


if __name__ == "__main__":
    serve(ReplicateHandler, "fake Replicate predictions API")
