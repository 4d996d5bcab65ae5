"""A fake Gemini API for Veo video generation (generativelanguage.googleapis.com). See fakebase.py.

Wire format (https://ai.google.dev/gemini-api/docs/video):
  POST /v1beta/models/{model}:predictLongRunning
       {"instances": [{"prompt", "image"?: {"bytesBase64Encoded", "mimeType"}}],
        "parameters": {"aspectRatio", "durationSeconds", "resolution", "negativePrompt", ...}}
       -> {"name": "models/{model}/operations/{id}"}
  GET  /v1beta/models/{model}/operations/{id}
       -> {"name", "done": false} or {"name", "done": true, "response": {"@type": ...,
          "generateVideoResponse": {"generatedSamples": [{"video": {"uri": ".../files/{f}:download?alt=media"}}]}}}
          or {"name", "done": true, "error": {"code", "message", "status"}}
  POST /v1beta/models/{model}/operations/{id}:cancel  (google.longrunning's cancel)
  GET  /v1beta/files/{f}:download?alt=media           the video bytes (key required)
Every request needs the `x-goog-api-key` header (or `?key=`).
"""

from fakebase import FakeHandler, serve


class VeoHandler(FakeHandler):
    def handle_provider(self, method, path, query):
        if not (self.headers.get("x-goog-api-key") or query.get("key")):
            self.body_bytes()
            return self.send_json(403, {"error": {"code": 403, "message": "Method doesn't allow unregistered callers", "status": "PERMISSION_DENIED"}})
        if method == "POST" and path.startswith("/v1beta/models/") and path.endswith(":predictLongRunning"):
            return self.generate(path[len("/v1beta/models/"):-len(":predictLongRunning")])
        if path.startswith("/v1beta/files/") and path.endswith(":download"):
            if self.state.redirect_host:  # the API answering with a redirect to storage
                return self.send_raw(302, b"", "text/plain", {"Location": self.file_url().replace(
                    self.base_url(self.state.file_host), self.base_url(self.state.redirect_host))})
            self.state.bump("downloads")
            with open(self.state.clip_path, "rb") as f:
                return self.send_raw(200, f.read(), "video/mp4")
        if method == "POST" and "/operations/" in path and path.endswith(":cancel"):
            self.body_bytes()
            job_id = path.rsplit("/", 1)[1][: -len(":cancel")]
            with self.state.lock:
                job = self.state.jobs.get(job_id)
                if job is None:
                    return self.send_json(404, {"error": {"code": 404, "message": "operation not found", "status": "NOT_FOUND"}})
                self.state.stats["cancels"] += 1
                if job["polls"] < job["need"]:
                    job["canceled"] = True
            return self.send_json(200, {})
        if method == "GET" and "/operations/" in path:
            job_id = path.rsplit("/", 1)[1]
            job, st = self.state.poll(job_id)
            if job is None:
                return self.send_json(404, {"error": {"code": 404, "message": "operation not found", "status": "NOT_FOUND"}})
            return self.send_json(200, self.operation(job, st))
        self.body_bytes()
        self.send_json(404, {"error": {"code": 404, "message": f"no route {method} {path}", "status": "NOT_FOUND"}})

    def generate(self, model):
        body = self.json_body()
        if not isinstance(body, dict) or not body.get("instances") or not body["instances"][0].get("prompt"):
            return self.send_json(400, {"error": {"code": 400, "message": "instances[0].prompt is required", "status": "INVALID_ARGUMENT"}})
        params = body.get("parameters") or {}
        dur = params.get("durationSeconds")
        if dur is not None and int(dur) not in (4, 6, 8):
            return self.send_json(400, {"error": {"code": 400, "message": "durationSeconds must be 4, 6 or 8", "status": "INVALID_ARGUMENT"}})
        self.record({"model": model, "body": body})
        job = self.state.new_job(model=model)
        self.send_json(200, {"name": f"models/{model}/operations/{job['id']}"})

    def operation(self, job, st):
        name = f"models/{job['model']}/operations/{job['id']}"
        if st in ("queued", "running"):
            return {"name": name, "done": False}
        if st == "canceled":
            return {"name": name, "done": True, "error": {"code": 1, "message": "operation was cancelled", "status": "CANCELLED"}}
        if st == "failed":
            return {"name": name, "done": True, "error": {"code": 400, "message": "fake generation failed: content rejected", "status": "INVALID_ARGUMENT"}}
        uri = f"{self.base_url()}/v1beta/files/{job['id']}:download?alt=media"
        if self.state.file_host:  # a result on another host (a CDN), which needs no key
            uri = self.file_url()
        return {"name": name, "done": True, "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]}}}


if __name__ == "__main__":
    serve(VeoHandler, "fake Gemini API (Veo)")
