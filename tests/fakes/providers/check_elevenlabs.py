"""Drives elevenlabs_fake.py with the official `elevenlabs` client from PyPI, proving the fake
is faithful. The client takes its API root from `ElevenLabs(base_url=...)` and sends the key as
`xi-api-key`. Prints CHECK OK on success.
"""

import base64

from checkutil import Fake, expect, need

need("elevenlabs", "elevenlabs")
fake = Fake("elevenlabs_fake.py")
try:
    from elevenlabs import ElevenLabs
    from elevenlabs.core.api_error import ApiError

    client = ElevenLabs(api_key="el-fake", base_url=fake.base)

    voices = client.voices.get_all().voices
    expect([v.name for v in voices] == ["Rachel", "Adam"], f"voices: {voices}")
    expect(voices[0].labels["gender"] == "female", "labels parse")
    expect(voices[0].verified_languages[0].language == "en", "languages parse")

    text = "A red fox runs."
    out = client.text_to_speech.convert_with_timestamps(
        voices[0].voice_id, text=text, model_id="eleven_multilingual_v2", output_format="mp3_44100_128")
    audio = base64.b64decode(out.audio_base_64)
    expect(audio[:3] == b"ID3" or audio[0] == 0xFF, "an MP3")
    a = out.alignment
    expect("".join(a.characters) == text, f"characters: {a.characters}")
    expect(len(a.character_start_times_seconds) == len(text) == len(a.character_end_times_seconds),
           "one time per character")
    expect(all(e >= s for s, e in zip(a.character_start_times_seconds, a.character_end_times_seconds)),
           "each character ends after it starts")
    last = fake.last()
    expect(last["body"]["model_id"] == "eleven_multilingual_v2" and last["output_format"] == "mp3_44100_128",
           f"body and query as sent: {last}")

    try:
        client.text_to_speech.convert_with_timestamps("nope", text="x")
        raise AssertionError("an unknown voice must fail")
    except ApiError as e:
        expect(e.status_code == 404 and e.body["detail"]["status"] == "voice_not_found", f"{e}")
    try:
        ElevenLabs(api_key="", base_url=fake.base).voices.get_all()
        raise AssertionError("no key must fail")
    except ApiError as e:
        expect(e.status_code == 401, f"401 parsed: {e}")
    expect(fake.stats()["submissions"] == 1, f"one synthesis counted: {fake.stats()}")
    print("CHECK OK")
finally:
    fake.stop()
