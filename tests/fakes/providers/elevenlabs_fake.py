"""A fake ElevenLabs API (api.elevenlabs.io) for tests. See fakebase.py for the control endpoints.

Wire format (https://elevenlabs.io/docs/api-reference/text-to-speech/convert-with-timestamps and
https://elevenlabs.io/docs/api-reference/voices/search), as the official `elevenlabs` client
sends and reads it:
  POST /v1/text-to-speech/{voice_id}/with-timestamps?output_format=mp3_44100_128
       {"text", "model_id", ...} -> {"audio_base64", "alignment": {"characters",
       "character_start_times_seconds", "character_end_times_seconds"}, "normalized_alignment"}
  GET  /v1/voices -> {"voices": [{"voice_id", "name", "category", "labels": {"gender", "accent",
       ...}, "verified_languages": [{"language", "model_id", "accent"}], "preview_url"}]}
Every request needs the `xi-api-key` header (401 `invalid_api_key` otherwise); an unknown voice
answers 404 `voice_not_found`. Errors are {"detail": {"status", "message"}}. The audio is real
speech read by espeak-ng; the fake spreads the characters evenly over its length (the real
service times them from its own synthesis). Answers carry a `request-id` header.
"""

import base64
import uuid

from fakebase import FakeHandler, serve, speak

VOICES = [
    {"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Rachel", "category": "premade",
     "labels": {"accent": "american", "gender": "female", "age": "young", "use_case": "narration"},
     "verified_languages": [{"language": "en", "model_id": "eleven_multilingual_v2", "accent": "american"}]},
    {"voice_id": "pNInz6obpgDQGcFmaJgB", "name": "Adam", "category": "premade",
     "labels": {"accent": "american", "gender": "male", "age": "middle aged", "use_case": "narration"},
     "verified_languages": [{"language": "en", "model_id": "eleven_multilingual_v2", "accent": "american"}]},
]
MODELS = {"eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_v3"}


class ElevenLabsHandler(FakeHandler):
    def error(self, status, code, message):
        return self.send_json(status, {"detail": {"status": code, "message": message}})

    def handle_provider(self, method, path, query):
        if not (self.headers.get("xi-api-key") or "").strip():
            self.body_bytes()
            return self.error(401, "invalid_api_key", "Invalid API key")
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["v1", "voices"]:
            voices = [dict(v, preview_url=f"{self.base_url()}/__fake/files/clip.mp4") for v in VOICES]
            return self.send_json(200, {"voices": voices})
        if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "text-to-speech"] \
                and parts[3] == "with-timestamps":
            return self.speak(parts[2], query)
        self.body_bytes()
        self.error(404, "not_found", f"no route {method} {path}")

    def speak(self, voice_id, query):
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"].strip():
            return self.send_json(422, {"detail": [{"loc": ["body", "text"], "msg": "field required",
                                                    "type": "value_error.missing"}]})
        if voice_id not in {v["voice_id"] for v in VOICES}:
            return self.error(404, "voice_not_found", f"A voice with voice_id {voice_id} was not found.")
        model = body.get("model_id") or "eleven_multilingual_v2"
        if model not in MODELS:
            return self.error(400, "model_not_found", f"Model {model} does not exist")
        fmt = (query.get("output_format") or ["mp3_44100_128"])[0]
        if not fmt.startswith("mp3_"):
            return self.error(400, "invalid_output_format", f"{fmt} is not served by this fake")
        self.state.bump("submissions")
        self.record({"voice_id": voice_id, "body": body, "output_format": fmt})
        text = body["text"]
        audio, duration = speak(text, self.server.work_dir, "mp3")
        step = duration / max(1, len(text))
        chars = list(text)
        starts = [round(i * step, 3) for i in range(len(chars))]
        ends = [round((i + 1) * step, 3) for i in range(len(chars))]
        alignment = {"characters": chars, "character_start_times_seconds": starts,
                     "character_end_times_seconds": ends}
        self.send_json(200, {"audio_base64": base64.b64encode(audio).decode(), "alignment": alignment,
                             "normalized_alignment": alignment},
                       {"request-id": uuid.uuid4().hex})


if __name__ == "__main__":
    serve(ElevenLabsHandler, "fake ElevenLabs API")
