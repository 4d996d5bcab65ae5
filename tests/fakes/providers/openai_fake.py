"""A fake OpenAI-compatible API (transcriptions and chat completions) for tests. See fakebase.py.

Wire format (https://platform.openai.com/docs/api-reference):
  POST /v1/audio/transcriptions  multipart: file, model, response_format, timestamp_granularities[]
                                 verbose_json answer: {"task", "language", "duration", "text",
                                 "words": [{"word", "start", "end"}], "segments": [...]}
  POST /v1/chat/completions      {"model", "messages", "response_format"?} ->
                                 {"id", "object": "chat.completion", "choices": [{"message"}], ...}
  POST /v1/audio/speech          {"model": tts-1|tts-1-hd|gpt-4o-mini-tts, "input", "voice",
                                 "instructions"? (gpt-4o-mini-tts only), "response_format"?
                                 (mp3 default, wav), "speed"? (0.25-4)} -> the audio bytes
                                 (https://platform.openai.com/docs/api-reference/audio/createSpeech);
                                 here real speech read by espeak-ng
The chat answer is deterministic JSON built from the last user message, so tests can check it:
{"title": ..., "scenes": [{"narration": ..., "visual_prompt": ...}, ...]}. A request whose
`response_format` is a `json_schema` (Structured Outputs) named `search_terms` is answered in that
schema instead, {"terms": [...]}: "cinematic" (a word a test can tell from the narration's own),
then the first line's words of six letters or more, lower-cased, in order, without repeats.
Every request needs `Authorization: Bearer <key>`. Answers carry an `x-request-id` header.
"""

import json
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP

from fakebase import FakeHandler, serve, speak

WORDS = ["hello", "from", "the", "fake", "whisper"]
SPEECH_MODELS = {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"}
SPEECH_VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage",
                 "shimmer", "verse"}
SPEECH_MAX_CHARS = 4096


class OpenAIHandler(FakeHandler):
    def handle_provider(self, method, path, query):
        auth = (self.headers.get("Authorization") or "").strip()
        if not auth.startswith("Bearer") or not auth[len("Bearer"):].strip():
            self.body_bytes()
            return self.send_json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}})
        rid = {"x-request-id": "req_" + uuid.uuid4().hex[:20]}
        if method == "POST" and path == "/v1/audio/transcriptions":
            return self.transcribe(rid)
        if method == "POST" and path == "/v1/chat/completions":
            return self.chat(rid)
        if method == "POST" and path == "/v1/audio/speech":
            return self.speech(rid)
        self.body_bytes()
        self.send_json(404, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}})

    def form(self):
        raw = self.body_bytes()
        head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
        msg = BytesParser(policy=HTTP).parsebytes(head + raw)
        fields = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields.setdefault(name, []).append(payload)
        return fields

    def transcribe(self, rid):
        fields = self.form()
        if not fields.get("file") or not fields["file"][0]:
            return self.send_json(400, {"error": {"message": "file is required", "type": "invalid_request_error"}}, rid)
        model = (fields.get("model") or [b""])[0].decode()
        fmt = (fields.get("response_format") or [b"json"])[0].decode()
        grains = [g.decode() for g in fields.get("timestamp_granularities[]", [])]
        self.state.bump("submissions")
        self.record({"model": model, "response_format": fmt, "granularities": grains, "file_len": len(fields["file"][0])})
        text = " ".join(WORDS).capitalize() + "."
        if fmt != "verbose_json":
            return self.send_json(200, {"text": text}, rid)
        words = [{"word": w, "start": round(i * 0.4, 2), "end": round(i * 0.4 + 0.35, 2)} for i, w in enumerate(WORDS)]
        out = {"task": "transcribe", "language": "english", "duration": 2.0, "text": text,
               "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 2.0, "text": text, "tokens": [1, 2],
                             "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.01}]}
        if "word" in grains:
            out["words"] = words
        self.send_json(200, out, rid)

    def bad(self, rid, message, param=None):
        return self.send_json(400, {"error": {"message": message, "type": "invalid_request_error",
                                              "param": param, "code": None}}, rid)

    def speech(self, rid):
        body = self.json_body()
        if not isinstance(body, dict):
            return self.bad(rid, "body must be JSON")
        unknown = set(body) - {"model", "input", "voice", "instructions", "response_format", "speed",
                               "stream_format"}
        if unknown:
            return self.bad(rid, f"Unrecognized request argument supplied: {sorted(unknown)[0]}")
        model, text, voice = body.get("model"), body.get("input"), body.get("voice")
        if model not in SPEECH_MODELS:
            return self.bad(rid, f"Invalid model {model!r}", "model")
        if not isinstance(text, str) or not text.strip() or len(text) > SPEECH_MAX_CHARS:
            return self.bad(rid, f"input must be 1 to {SPEECH_MAX_CHARS} characters", "input")
        if voice not in SPEECH_VOICES:
            return self.bad(rid, f"Invalid voice {voice!r}", "voice")
        if body.get("instructions") is not None and model != "gpt-4o-mini-tts":
            return self.bad(rid, "instructions are not supported with this model", "instructions")
        fmt = body.get("response_format", "mp3")
        if fmt not in ("mp3", "wav"):
            return self.bad(rid, f"response_format {fmt!r} is not served by this fake", "response_format")
        self.state.bump("submissions")
        self.record(body)
        audio, _ = speak(text, self.server.work_dir, fmt)
        self.send_raw(200, audio, "audio/mpeg" if fmt == "mp3" else "audio/wav", rid)

    def chat(self, rid):
        body = self.json_body()
        if not isinstance(body, dict) or not body.get("messages"):
            return self.send_json(400, {"error": {"message": "messages is required", "type": "invalid_request_error"}}, rid)
        self.state.bump("submissions")
        self.record(body)
        user = [m for m in body["messages"] if m.get("role") == "user"][-1]["content"]
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            schema = fmt.get("json_schema") or {}
            if schema.get("name") != "search_terms" or not isinstance(schema.get("schema"), dict):
                return self.send_json(400, {"error": {"message": "this fake answers only the search_terms schema", "type": "invalid_request_error", "param": "response_format"}}, rid)
            terms = ["cinematic"]
            for word in user.splitlines()[0].split():
                word = "".join(ch for ch in word if ch.isalpha()).lower()
                if len(word) >= 6 and word not in terms:
                    terms.append(word)
            content = json.dumps({"terms": terms})
            return self.chat_answer(rid, body, content)
        topic = user.splitlines()[0][:60]
        content = json.dumps({
            "title": f"About {topic}",
            "scenes": [
                {"narration": f"First, {topic}.", "visual_prompt": f"wide establishing shot of {topic}"},
                {"narration": f"Then more on {topic}.", "visual_prompt": f"close-up detail of {topic}"},
            ],
        })
        self.chat_answer(rid, body, content)

    def chat_answer(self, rid, body, content):
        self.send_json(200, {
            "id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        }, rid)


if __name__ == "__main__":
    serve(OpenAIHandler, "fake OpenAI-compatible API")
