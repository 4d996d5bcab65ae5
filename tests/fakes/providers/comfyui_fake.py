"""A fake ComfyUI server (an operator's own GPU machine) for tests. See fakebase.py for control.

Wire format (ComfyUI's server.py; https://docs.comfy.org/development/comfyui-server/comms_routes):
  POST /prompt        {"prompt": {node_id: {"class_type", "inputs"}}, "client_id"}
                      -> {"prompt_id", "number", "node_errors": {}}; 400 with "error" and
                      "node_errors" for an invalid workflow
  GET  /ws?clientId=  websocket: JSON text messages {"type": "status"|"execution_start"|
                      "executing"|"progress"|"executed"|"execution_success"|"execution_error"|
                      "execution_interrupted", "data": {..., "prompt_id"}}; "executing" with
                      node null means the prompt is finished
  GET  /history/{id}  {} until finished, then {id: {"prompt", "outputs": {node: {"gifs"|
                      "videos"|"images": [{"filename", "subfolder", "type"}]}},
                      "status": {"status_str": "success"|"error", "completed", "messages"}}}
  GET  /queue         {"queue_running": [[number, id, ...]], "queue_pending": [...]}
  POST /queue         {"delete": [id]} removes pending prompts
  POST /interrupt     {"prompt_id"} stops the running prompt
  GET  /view?filename=&subfolder=&type=output   the file
Jobs advance on their own (one progress step every 30 ms, `polls` steps), not per poll.
"""

import base64
import hashlib
import json
import queue
import threading
import time
import uuid

from fakebase import FakeHandler, serve

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(text):
    data = text.encode()
    head = bytearray([0x81])
    if len(data) < 126:
        head.append(len(data))
    elif len(data) < 65536:
        head += bytes([126]) + len(data).to_bytes(2, "big")
    else:
        head += bytes([127]) + len(data).to_bytes(8, "big")
    return bytes(head) + data


class ComfyHandler(FakeHandler):
    queues = {}  # client_id -> queue.Queue of messages
    queues_lock = threading.Lock()

    @classmethod
    def client_queue(cls, client_id):
        with cls.queues_lock:
            return cls.queues.setdefault(client_id or "", queue.Queue())

    def fault_exempt(self, path):
        # The websocket is a side channel: faults and counts are about the HTTP calls.
        return path == "/ws"

    def handle_provider(self, method, path, query):
        if method == "GET" and path == "/ws":
            return self.websocket((query.get("clientId") or [""])[0])
        if method == "POST" and path == "/prompt":
            return self.submit()
        if method == "GET" and path.startswith("/history/"):
            return self.history(path.split("/", 2)[2])
        if method == "GET" and path == "/queue":
            return self.send_json(200, self.queue_state())
        if method == "POST" and path == "/queue":
            body = self.json_body() or {}
            with self.state.lock:
                for pid in body.get("delete", []):
                    job = self.state.jobs.get(pid)
                    if job and job["polls"] == 0:  # only pending prompts can be deleted
                        job["canceled"] = True
                        self.state.stats["cancels"] += 1
            return self.send_json(200, {})
        if method == "POST" and path == "/interrupt":
            body = self.json_body() or {}
            with self.state.lock:
                for job in self.state.jobs.values():
                    if (not body.get("prompt_id") or job["id"] == body["prompt_id"]) and 0 < job["polls"] < job["need"]:
                        job["canceled"] = True
                        self.state.stats["cancels"] += 1
            return self.send_json(200, {})
        if method == "GET" and path == "/view":
            if (query.get("filename") or [""])[0] != "clip.mp4" or (query.get("type") or [""])[0] != "output":
                return self.send_json(404, {"error": "no such file"})
            self.state.bump("downloads")
            with open(self.state.clip_path, "rb") as f:
                return self.send_raw(200, f.read(), "video/mp4")
        self.body_bytes()
        self.send_json(404, {"error": f"no route {method} {path}"})

    def submit(self):
        body = self.json_body()
        wf = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(wf, dict) or not wf or not all(isinstance(n, dict) and n.get("class_type") for n in wf.values()):
            return self.send_json(400, {"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs"}, "node_errors": {}})
        self.record(body)
        job = self.state.new_job(client_id=body.get("client_id"), number=self.state.stats["submissions"])
        q = self.client_queue(job["client_id"])
        threading.Thread(target=self.run_job, args=(job, q), daemon=True).start()
        self.send_json(200, {"prompt_id": job["id"], "number": job["number"], "node_errors": {}})

    def run_job(self, job, q):
        pid = job["id"]
        time.sleep(0.03)
        q.put({"type": "execution_start", "data": {"prompt_id": pid}})
        for step in range(1, job["need"] + 1):
            time.sleep(0.03)
            with self.state.lock:
                if job["canceled"]:
                    q.put({"type": "execution_interrupted", "data": {"prompt_id": pid, "node_id": "3"}})
                    return
                job["polls"] = step  # polls doubles as "steps done" here
            q.put({"type": "executing", "data": {"node": "3", "prompt_id": pid}})
            q.put({"type": "progress", "data": {"value": step, "max": job["need"], "prompt_id": pid, "node": "3"}})
        if job["fail"]:
            q.put({"type": "execution_error", "data": {"prompt_id": pid, "node_id": "3", "exception_message": "fake generation failed: content rejected"}})
        else:
            q.put({"type": "executed", "data": {"node": "9", "prompt_id": pid, "output": {"gifs": [{"filename": "clip.mp4", "subfolder": "", "type": "output"}]}}})
            q.put({"type": "execution_success", "data": {"prompt_id": pid}})
        q.put({"type": "executing", "data": {"node": None, "prompt_id": pid}})

    def queue_state(self):
        running, pending = [], []
        with self.state.lock:
            for job in self.state.jobs.values():
                if job["canceled"] or job["polls"] >= job["need"]:
                    continue
                entry = [job["number"], job["id"], {}, {"client_id": job["client_id"]}, ["9"]]
                (running if job["polls"] > 0 else pending).append(entry)
        return {"queue_running": running, "queue_pending": pending}

    def history(self, pid):
        with self.state.lock:
            self.state.stats["polls"] += 1
            job = self.state.jobs.get(pid)
            if job is None or not (job["canceled"] and job["polls"] > 0) and job["polls"] < job["need"]:
                return self.send_json(200, {})
            interrupted = job["canceled"]
            failed = job["fail"]
        if interrupted:
            status = {"status_str": "error", "completed": False, "messages": [["execution_interrupted", {"prompt_id": pid}]]}
            return self.send_json(200, {pid: {"prompt": [], "outputs": {}, "status": status}})
        if failed:
            status = {"status_str": "error", "completed": False,
                      "messages": [["execution_error", {"prompt_id": pid, "exception_message": "fake generation failed: content rejected"}]]}
            return self.send_json(200, {pid: {"prompt": [], "outputs": {}, "status": status}})
        outputs = {"9": {"gifs": [{"filename": "clip.mp4", "subfolder": "", "type": "output", "format": "video/h264-mp4"}]}}
        self.send_json(200, {pid: {"prompt": [], "outputs": outputs,
                                   "status": {"status_str": "success", "completed": True, "messages": []}}})

    def websocket(self, client_id):
        key = self.headers.get("Sec-WebSocket-Key")
        if not key or (self.headers.get("Upgrade") or "").lower() != "websocket":
            return self.send_json(400, {"error": "not a websocket request"})
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        q = self.client_queue(client_id)
        try:
            self.wfile.write(ws_frame(json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id}})))
            while True:
                try:
                    msg = q.get(timeout=30)
                except queue.Empty:
                    break
                self.wfile.write(ws_frame(json.dumps(msg)))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


if __name__ == "__main__":
    serve(ComfyHandler, "fake ComfyUI server")
