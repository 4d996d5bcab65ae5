"""A fake Atlas Cloud generation API (api.atlascloud.ai) for tests. See fakebase.py for control.

Wire format (https://atlascloud.ai/docs/en/predictions):
  POST /api/v1/model/generateVideo   {"model", "prompt", ...model parameters}
                                     -> {"code": 200, "data": {"id", "status": "processing", ...}}
  GET  /api/v1/model/prediction/{id} -> {"code": 200, "data": {"id", "status":
                                        processing|completed|succeeded|failed, "outputs": [url], "error"}}
Every request needs `Authorization: Bearer <key>`. Atlas documents no cancel.
"""

from fakebase import FakeHandler, serve


class AtlasHandler(FakeHandler):
    def handle_provider(self, method, path, query):
        if not (self.headers.get("Authorization") or "").startswith("Bearer "):
            self.body_bytes()
            return self.send_json(401, {"code": 401, "message": "invalid api key"})
        if method == "POST" and path in ("/api/v1/model/generateVideo", "/api/v1/model/generateImage"):
            body = self.json_body()
            if not isinstance(body, dict) or not body.get("model") or not body.get("prompt"):
                return self.send_json(400, {"code": 400, "message": "model and prompt are required"})
            self.record(body)
            job = self.state.new_job(model=body["model"])
            return self.send_json(200, {"code": 200, "message": "success", "data": self.prediction(job, "queued")})
        if method == "GET" and path.startswith("/api/v1/model/prediction/"):
            job, st = self.state.poll(path.rsplit("/", 1)[1])
            if job is None:
                return self.send_json(404, {"code": 404, "message": "prediction not found"})
            return self.send_json(200, {"code": 200, "message": "success", "data": self.prediction(job, st)})
        self.body_bytes()
        self.send_json(404, {"code": 404, "message": f"no route {method} {path}"})

    def prediction(self, job, st):
        status = {"queued": "processing", "running": "processing", "done": "completed",
                  "failed": "failed", "canceled": "failed"}[st]
        return {
            "id": job["id"],
            "model": job["model"],
            "status": status,
            "outputs": [self.file_url()] if st == "done" else [],
            "error": "fake generation failed: content rejected" if st == "failed" else "",
            "urls": {"get": f"{self.base_url()}/api/v1/model/prediction/{job['id']}"},
        }


if __name__ == "__main__":
    serve(AtlasHandler, "fake Atlas Cloud API")
