"""A fake fal.ai queue (queue.fal.run) for tests. See fakebase.py for the control endpoints.

Wire format (https://docs.fal.ai/model-apis/model-endpoints/queue):
  POST /{owner}/{app}[/{path}]                 submit; answers request_id and the status,
                                               response and cancel URLs (owner/app path only)
  GET  /{owner}/{app}/requests/{id}/status     {"status": IN_QUEUE|IN_PROGRESS|COMPLETED, ...}
  GET  /{owner}/{app}/requests/{id}            the result: {"video": {"url": ...}} or, for
                                               image apps, {"images": [{"url", "width",
                                               "height", "content_type"}], "timings", "seed",
                                               "has_nsfw_concepts", "prompt"}
An image app's picture is a real JPEG of the `image_size` asked (fal's named sizes, or
{"width", "height"}), filled with the first colour the prompt names (red, green, blue, yellow,
purple, orange, white, black; grey otherwise), so a render test can tell the scenes apart.
  PUT  /{owner}/{app}/requests/{id}/cancel     202 CANCELLATION_REQUESTED or 400 ALREADY_COMPLETED
A job ended with {"job_refuse": true} is refused as fal's model errors page documents
(https://fal.ai/docs/documentation/model-apis/errors): the status is COMPLETED (the outcome is
stored) and the response URL answers 422 with `X-Fal-Retryable: false` and a `detail` list of
typed errors, here `content_policy_violation` on `prompt`.
Every request needs `Authorization: Key <key>`, except GET /.well-known/jwks.json, the webhook
key set (fal serves it at rest.fal.ai), read from <dir>/jwks.json.
"""

import os

from fakebase import FakeHandler, make_image, serve

# fal's named image sizes (https://fal.ai/models/fal-ai/flux/schnell/api).
IMAGE_SIZES = {
    "square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024), "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576),
}
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]


def image_size(body):
    size = body.get("image_size", "landscape_4_3")
    if isinstance(size, dict):
        return int(size.get("width", 512)), int(size.get("height", 512))
    return IMAGE_SIZES.get(size)


def prompt_colour(prompt):
    words = [w.strip(".,;:!?").lower() for w in str(prompt).split()]
    return next((w for w in words if w in COLOURS), "gray")


class FalHandler(FakeHandler):
    def handle_provider(self, method, path, query):
        if method == "GET" and path == "/.well-known/jwks.json":
            # The webhook key set, from <dir>/jwks.json (written by the test), served without a key.
            try:
                with open(os.path.join(self.server.work_dir, "jwks.json"), "rb") as f:
                    return self.send_raw(200, f.read(), "application/json")
            except FileNotFoundError:
                return self.send_json(404, {"detail": "no key set"})
        if not (self.headers.get("Authorization") or "").startswith("Key "):
            self.body_bytes()
            return self.send_json(401, {"detail": "missing or bad Authorization: Key header"})
        parts = [p for p in path.split("/") if p]
        if method == "POST" and "requests" not in parts:
            return self.submit(parts, query)
        if len(parts) >= 4 and parts[2] == "requests":
            owner_app = "/".join(parts[:2])
            job_id = parts[3]
            rest = parts[4:]
            if method == "GET" and rest == ["status"]:
                return self.status(owner_app, job_id)
            if method == "GET" and rest == []:
                return self.result(job_id)
            if method == "PUT" and rest == ["cancel"]:
                return self.cancel(job_id)
        self.send_json(404, {"detail": f"no route for {method} {path}"})

    def urls(self, owner_app, job_id):
        base = f"{self.base_url()}/{owner_app}/requests/{job_id}"
        return {"response_url": base, "status_url": base + "/status", "cancel_url": base + "/cancel"}

    def submit(self, parts, query):
        if len(parts) < 2:
            return self.send_json(404, {"detail": "model id must be owner/app"})
        body = self.json_body()
        if not isinstance(body, dict):
            return self.send_json(422, {"detail": "body must be a JSON object"})
        self.record({"path": "/" + "/".join(parts), "body": body,
                     "webhook": (query.get("fal_webhook") or [None])[0]})
        owner_app = "/".join(parts[:2])
        # Image apps (flux, */text-to-image) answer "images"; video apps, image-to-video included, "video".
        image = "flux" in parts or parts[-1] == "text-to-image"
        size = image_size(body) if image else None
        if image and size is None:
            return self.send_json(422, {"detail": [{"loc": ["body", "image_size"], "msg": "unknown image size",
                                                    "type": "value_error"}]})
        job = self.state.new_job(app=owner_app, image=image, size=size, seed=body.get("seed", 1),
                                 prompt=body.get("prompt", ""))
        if image:
            make_image(self.server.work_dir, f"image-{job['id']}.jpg", prompt_colour(job["prompt"]), *size)
        self.send_json(200, {"request_id": job["id"], "queue_position": 0, **self.urls(owner_app, job["id"])})

    def status(self, owner_app, job_id):
        job, st = self.state.poll(job_id)
        if job is None:
            return self.send_json(404, {"detail": "request not found"})
        urls = self.urls(owner_app, job_id)
        if st == "queued":
            return self.send_json(202, {"status": "IN_QUEUE", "queue_position": 0, "response_url": urls["response_url"]})
        if st == "running":
            return self.send_json(202, {"status": "IN_PROGRESS", "logs": [], "response_url": urls["response_url"]})
        out = {"status": "COMPLETED", "logs": [], "metrics": {"inference_time": 0.1}, "response_url": urls["response_url"]}
        if st == "failed" and not job.get("refuse"):
            out["error"] = "fake generation failed: content rejected"
            out["error_type"] = "generation_error"
        if st == "canceled":
            out["error"] = "request was cancelled"
        self.send_json(200, out)

    def result(self, job_id):
        job, st = self.state.peek(job_id)
        if job is None:
            return self.send_json(404, {"detail": "request not found"})
        if st in ("queued", "running"):
            return self.send_json(400, {"detail": "request is still in progress"})
        if st == "failed" and job.get("refuse"):
            return self.send_json(422, {"detail": [{
                "loc": ["body", "prompt"],
                "msg": "The content was flagged by a content checker.",
                "type": "content_policy_violation",
                "url": "https://docs.fal.ai/errors#content_policy_violation",
                "input": job.get("prompt", ""),
                "categories": ["violence"],
            }]}, {"X-Fal-Retryable": "false"})
        if st == "failed":
            return self.send_json(422, {"detail": "fake generation failed: content rejected"})
        if st == "canceled":
            return self.send_json(400, {"detail": "request was cancelled"})
        url = self.file_url()
        if job.get("image"):
            width, height = job["size"]
            return self.send_json(200, {
                "images": [{"url": self.file_url(f"image-{job['id']}.jpg"), "width": width, "height": height,
                            "content_type": "image/jpeg"}],
                "timings": {"inference": 0.1}, "seed": job["seed"], "has_nsfw_concepts": [False],
                "prompt": job["prompt"],
            })
        self.send_json(200, {"video": {"url": url, "content_type": "video/mp4", "file_name": "clip.mp4"}})

    def cancel(self, job_id):
        self.body_bytes()
        with self.state.lock:
            job = self.state.jobs.get(job_id)
            if job is None:
                return self.send_json(404, {"detail": "request not found"})
            self.state.stats["cancels"] += 1
            if job["polls"] >= job["need"] and not job["canceled"]:
                return self.send_json(400, {"status": "ALREADY_COMPLETED"})
            job["canceled"] = True
        self.send_json(202, {"status": "CANCELLATION_REQUESTED"})


if __name__ == "__main__":
    serve(FalHandler, "fake fal.ai queue")
