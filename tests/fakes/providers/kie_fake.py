"""A fake KieAI API (api.kie.ai) for tests. See fakebase.py for the shared control endpoints.

KieAI has no official Python client, so this fake follows its documentation pages alone:
  https://docs.kie.ai/veo3-api/quickstart                (envelope, successFlag table)
  https://docs.kie.ai/veo3-api/generate-veo-3-video      (POST /api/v1/veo/generate, its fields
                                                          and the response code table)
  https://docs.kie.ai/veo3-api/get-veo-3-video-details   (GET /api/v1/veo/record-info)
  https://docs.kie.ai/veo3-api/get-veo-3-1080-p-video    (GET /api/v1/veo/get-1080p-video)
  https://docs.kie.ai/veo3-api/generate-veo-3-video-callbacks (the Veo callback body)
  https://docs.kie.ai/market/common/get-task-detail      (GET /api/v1/jobs/recordInfo)
  https://docs.kie.ai/market/kling/text-to-video         (createTask input of kling-2.6/text-to-video)
  https://docs.kie.ai/market/kling/image-to-video        (createTask input of kling-2.6/image-to-video)
  https://docs.kie.ai/file-upload-api/upload-file-base-64 (POST /api/file-base64-upload)
  https://docs.kie.ai/common-api/webhook-verification    (X-Webhook-Timestamp / X-Webhook-Signature)

Every answer is {"code", "msg", "data"} in an HTTP 200; a code other than 200 is an error. A
missing key answers code 401; a field the documentation does not list answers code 422.

KieAI-specific control (besides fakebase's):
  POST /__fake/kie with any of
    {"code": n, "count": k, "retry_after": s}  the next k provider requests answer HTTP 200 with
                                                {"code": n} (and Retry-After when given)
    {"fail_flag": 2|3}      how a failing Veo task ends (successFlag); default 3
    {"fail_code": "..."}    the failCode of a failing market task; default "500"
    {"expired": true}       result files answer 404, as an expired result URL does
    {"hd_not_ready": n}     get-1080p-video answers "not ready" n times per task (default 1)
    {"hmac_key": "..."}     sign callbacks with this webhookHmacKey
  POST /__fake/callback {"forge": false} completes every unfinished task now and POSTs its
    completion callback to the task's callBackUrl (signed when hmac_key is set; with
    "forge": true, signed with a wrong key). Answers {"sent": n, "statuses": [...]}.
Extra stats: uploads, hd_requests, callbacks_sent.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request

from fakebase import FakeHandler, serve

VEO_FIELDS = {"prompt", "imageUrls", "model", "generationType", "aspectRatio", "seeds",
              "callBackUrl", "enableFallback", "enableTranslation", "watermark"}
VEO_MODELS = {"veo3", "veo3_fast"}
MARKET_INPUTS = {
    "kling-2.6/text-to-video": {"prompt", "sound", "aspect_ratio", "duration"},
    "kling-2.6/image-to-video": {"prompt", "image_urls", "sound", "duration"},
}
FAIL_MSG = "fake generation failed: content rejected"

extra_lock = threading.Lock()
extra = {"code": None, "count": 0, "retry_after": None, "fail_flag": 3, "fail_code": "500",
         "expired": False, "hd_not_ready": 1, "hmac_key": None}
uploads = {}


class KieHandler(FakeHandler):
    def ok(self, data, msg="success"):
        self.send_json(200, {"code": 200, "msg": msg, "data": data})

    def err(self, code, msg, headers=None):
        self.send_json(200, {"code": code, "msg": msg, "data": None}, headers)

    def handle_provider(self, method, path, query):
        with extra_lock:
            fault = None
            if extra["code"] is not None and extra["count"] > 0:
                extra["count"] -= 1
                fault = (extra["code"], extra["retry_after"])
        if fault:
            self.body_bytes()
            headers = {"Retry-After": str(fault[1])} if fault[1] is not None else None
            return self.err(fault[0], f"fake code {fault[0]}", headers)
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth[len("Bearer "):].strip():
            self.body_bytes()
            return self.err(401, "You do not have access permissions")
        if method == "POST" and path == "/api/file-base64-upload":
            return self.upload()
        if method == "POST" and path == "/api/v1/veo/generate":
            return self.veo_generate()
        if method == "POST" and path == "/api/v1/jobs/createTask":
            return self.create_task()
        task_id = (query.get("taskId") or [""])[0]
        if method == "GET" and path == "/api/v1/veo/record-info":
            return self.veo_record(task_id)
        if method == "GET" and path == "/api/v1/veo/get-1080p-video":
            return self.veo_1080p(task_id)
        if method == "GET" and path == "/api/v1/jobs/recordInfo":
            return self.market_record(task_id)
        self.body_bytes()
        self.send_json(404, {"code": 404, "msg": f"no route {method} {path}"})

    # ---- file upload ---------------------------------------------------------------------
    def upload(self):
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("base64Data"), str):
            return self.err(400, "base64Data is required")
        data = body["base64Data"]
        mime = "application/octet-stream"
        if data.startswith("data:"):
            head, data = data.split(",", 1)
            mime = head[5:].split(";")[0]
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            return self.err(400, "base64Data is not base64")
        path = f"{body.get('uploadPath') or 'files'}/{body.get('fileName') or 'upload'}"
        with self.state.lock:
            uploads[path] = raw
            self.state.stats["uploads"] = self.state.stats.get("uploads", 0) + 1
        self.ok({"fileName": path.rsplit("/", 1)[1], "filePath": path,
                 "downloadUrl": f"{self.base_url()}/__fake/uploads/{path}",
                 "fileSize": len(raw), "mimeType": mime,
                 "uploadedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())},
                "File uploaded successfully")

    def images_reachable(self, urls):
        prefix = f"{self.base_url()}/__fake/uploads/"
        with self.state.lock:
            return all(isinstance(u, str) and u.startswith(prefix) and u[len(prefix):] in uploads
                       for u in urls)

    # ---- Veo 3.1 -------------------------------------------------------------------------
    def veo_generate(self):
        body = self.json_body()
        if not isinstance(body, dict) or not body.get("prompt"):
            return self.err(422, "prompt is required")
        unknown = set(body) - VEO_FIELDS
        if unknown:
            return self.err(422, f"unknown fields: {sorted(unknown)}")
        if body.get("model", "veo3_fast") not in VEO_MODELS:
            return self.err(422, "model must be veo3 or veo3_fast")
        if body.get("aspectRatio", "16:9") not in ("16:9", "9:16", "Auto"):
            return self.err(422, "aspectRatio must be 16:9, 9:16 or Auto")
        seeds = body.get("seeds")
        if seeds is not None and not (isinstance(seeds, int) and 10000 <= seeds <= 99999):
            return self.err(422, "seeds must be between 10000 and 99999")
        images = body.get("imageUrls") or []
        if images and not self.images_reachable(images):
            return self.err(451, "Failed to fetch the image")
        self.record(body)
        job = self.state.new_job(family="veo", model=body.get("model", "veo3_fast"),
                                 aspect=body.get("aspectRatio", "16:9"),
                                 callback=body.get("callBackUrl"), hd_asks=0, params=body)
        self.ok({"taskId": "veo_" + job["id"]})

    def job_of(self, task_id, prefix):
        if not task_id.startswith(prefix):
            return None
        return task_id[len(prefix):]

    def veo_record(self, task_id):
        job_id = self.job_of(task_id, "veo_")
        job, st = self.state.poll(job_id) if job_id else (None, None)
        if job is None:
            return self.err(404, "task not found")
        self.ok(self.veo_data(task_id, job, st))

    def veo_data(self, task_id, job, st):
        flag = {"queued": 0, "running": 0, "done": 1, "failed": extra["fail_flag"],
                "canceled": 2}[st]
        return {
            "taskId": task_id,
            "paramJson": json.dumps(job["params"]),
            "completeTime": None,
            "response": {"taskId": task_id, "resultUrls": [self.file_url()],
                         "originUrls": [self.file_url()], "resolution": "720p"} if flag == 1 else None,
            "successFlag": flag,
            "errorCode": 400 if flag in (2, 3) else None,
            "errorMessage": FAIL_MSG if flag in (2, 3) else "",
            "createTime": None,
            "fallbackFlag": False,
        }

    def veo_1080p(self, task_id):
        job_id = self.job_of(task_id, "veo_")
        with self.state.lock:
            self.state.stats["hd_requests"] = self.state.stats.get("hd_requests", 0) + 1
            job = self.state.jobs.get(job_id) if job_id else None
            if job is None:
                return self.err(404, "task not found")
            if job["aspect"] != "16:9":
                return self.err(422, "1080P is only available for 16:9 videos")
            done = job["polls"] >= job["need"] and not job["fail"]
            job["hd_asks"] += 1
            ready = done and job["hd_asks"] > extra["hd_not_ready"]
        if not ready:
            return self.err(400, "The 1080P video is being generated, please try again later")
        self.ok({"resultUrl": self.file_url("clip-1080p.mp4")})

    # ---- market models -------------------------------------------------------------------
    def create_task(self):
        body = self.json_body()
        if not isinstance(body, dict):
            return self.err(422, "the body must be a JSON object")
        unknown = set(body) - {"model", "input", "callBackUrl"}
        if unknown:
            return self.err(422, f"unknown fields: {sorted(unknown)}")
        fields = MARKET_INPUTS.get(body.get("model"))
        if fields is None:
            return self.err(422, f"unknown model {body.get('model')}")
        inp = body.get("input")
        if not isinstance(inp, dict) or not inp.get("prompt"):
            return self.err(422, "input.prompt is required")
        unknown = set(inp) - fields
        if unknown:
            return self.err(422, f"unknown input fields: {sorted(unknown)}")
        if inp.get("duration") not in ("5", "10"):
            return self.err(422, "input.duration must be \"5\" or \"10\"")
        if "aspect_ratio" in fields and inp.get("aspect_ratio") not in ("1:1", "16:9", "9:16"):
            return self.err(422, "input.aspect_ratio must be 1:1, 16:9 or 9:16")
        if "image_urls" in fields:
            urls = inp.get("image_urls")
            if not isinstance(urls, list) or len(urls) != 1:
                return self.err(422, "input.image_urls takes one image")
            if not self.images_reachable(urls):
                return self.err(451, "Failed to fetch the image")
        self.record(body)
        job = self.state.new_job(family="market", model=body["model"],
                                 callback=body.get("callBackUrl"), params=body)
        self.ok({"taskId": "task_" + job["id"]})

    def market_record(self, task_id):
        job_id = self.job_of(task_id, "task_")
        job, st = self.state.poll(job_id) if job_id else (None, None)
        if job is None:
            return self.err(404, "task not found")
        self.ok(self.market_data(task_id, job, st))

    def market_data(self, task_id, job, st):
        state = {"queued": "waiting", "running": "generating", "done": "success",
                 "failed": "fail", "canceled": "fail"}[st]
        if state == "generating" and job["polls"] <= 2:
            state = ("waiting", "queuing")[job["polls"] - 1]
        return {
            "taskId": task_id,
            "model": job["model"],
            "state": state,
            "param": json.dumps(job["params"]),
            "resultJson": json.dumps({"resultUrls": [self.file_url()]}) if state == "success" else "",
            "failCode": extra["fail_code"] if state == "fail" else "",
            "failMsg": FAIL_MSG if state == "fail" else "",
            "costTime": 1,
            "completeTime": None,
            "createTime": None,
        }

    # ---- control -------------------------------------------------------------------------
    def _control(self, method, path):
        if path == "/__fake/kie" and method == "POST":
            body = self.json_body() or {}
            with extra_lock:
                if "code" in body:
                    extra["code"] = body["code"]
                    extra["count"] = int(body.get("count", 1))
                    extra["retry_after"] = body.get("retry_after")
                for k in ("fail_flag", "fail_code", "expired", "hd_not_ready", "hmac_key"):
                    if k in body:
                        extra[k] = body[k]
            return self.send_json(200, {"ok": True})
        if path == "/__fake/callback" and method == "POST":
            return self.send_callbacks(bool((self.json_body() or {}).get("forge")))
        if path.startswith("/__fake/uploads/"):
            with self.state.lock:
                data = uploads.get(path[len("/__fake/uploads/"):])
            if data is None:
                return self.send_json(404, {"code": 404, "msg": "no such file"})
            return self.send_raw(200, data, "application/octet-stream")
        if path.startswith("/__fake/files/") and extra["expired"]:
            self.state.bump("downloads")
            return self.send_raw(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        return super()._control(method, path)

    def send_callbacks(self, forge):
        with self.state.lock:
            due = []
            for job in self.state.jobs.values():
                if job["polls"] < job["need"] and not job["canceled"]:
                    job["need"] = job["polls"]
                    if job.get("callback"):
                        due.append(job)
        statuses = []
        for job in due:
            st = "failed" if job["fail"] else "done"
            if job["family"] == "veo":
                task_id = "veo_" + job["id"]
                data = self.veo_data(task_id, job, st)
                body = {"code": 200 if st == "done" else 501,
                        "msg": "Veo3.1 video generated successfully." if st == "done" else FAIL_MSG,
                        "data": {"taskId": task_id,
                                 "info": data["response"] and {k: data["response"][k] for k in
                                                               ("resultUrls", "originUrls", "resolution")},
                                 "fallbackFlag": False}}
            else:
                task_id = "task_" + job["id"]
                body = {"code": 200 if st == "done" else 501, "msg": "callback",
                        "data": self.market_data(task_id, job, st)}
            raw = json.dumps(body).encode()
            headers = {"Content-Type": "application/json"}
            key = extra["hmac_key"]
            if key:
                ts = str(int(time.time()))
                signing = ("not-the-key" if forge else key).encode()
                sig = base64.b64encode(hmac.new(signing, f"{task_id}.{ts}".encode(),
                                                hashlib.sha256).digest()).decode()
                headers["X-Webhook-Timestamp"] = ts
                headers["X-Webhook-Signature"] = sig
            req = urllib.request.Request(job["callback"], data=raw, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
            except OSError:
                statuses.append(0)
            with self.state.lock:
                self.state.stats["callbacks_sent"] = self.state.stats.get("callbacks_sent", 0) + 1
        self.send_json(200, {"sent": len(due), "statuses": statuses})


if __name__ == "__main__":
    serve(KieHandler, "fake KieAI API")
