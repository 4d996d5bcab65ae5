"""Drives openai_fake.py with the official `openai` client from PyPI.

The client takes its API root from `OpenAI(base_url=...)` (or OPENAI_BASE_URL), version
included ("http://127.0.0.1:PORT/v1"), and speaks plain http to it. Prints CHECK OK on success.
"""

import json

from checkutil import Fake, expect, need

need("openai", "openai")
fake = Fake("openai_fake.py")
try:
    import openai

    client = openai.OpenAI(api_key="sk-fake", base_url=fake.base + "/v1", max_retries=2)

    # Whisper with word timestamps.
    t = client.audio.transcriptions.create(
        model="whisper-1", file=("voice.wav", b"RIFF....WAVEfake", "audio/wav"),
        response_format="verbose_json", timestamp_granularities=["word"],
    )
    expect(t.text.startswith("Hello"), f"text: {t.text}")
    expect([w.word for w in t.words] == ["hello", "from", "the", "fake", "whisper"], f"words: {t.words}")
    expect(t.words[1].start > t.words[0].start, "timings ascend")
    last = fake.last()
    expect(last["response_format"] == "verbose_json" and last["granularities"] == ["word"], f"form fields: {last}")

    # Chat with JSON output.
    c = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "octopuses\nWrite 2 scenes."}],
        response_format={"type": "json_object"},
    )
    script = json.loads(c.choices[0].message.content)
    expect(len(script["scenes"]) == 2 and "octopuses" in script["title"], f"script: {script}")
    # Structured Outputs: the search words of one scene, in the schema asked for.
    c = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "search words"},
                  {"role": "user", "content": "The lighthouse keeper climbs the spiral stairs.\nAt most 6 search words."}],
        response_format={"type": "json_schema", "json_schema": {
            "name": "search_terms", "strict": True,
            "schema": {"type": "object", "properties": {"terms": {"type": "array", "items": {"type": "string"}}},
                       "required": ["terms"], "additionalProperties": False}}},
    )
    terms = json.loads(c.choices[0].message.content)["terms"]
    expect(terms == ["cinematic", "lighthouse", "keeper", "climbs", "spiral", "stairs"], f"terms: {terms}")
    expect(fake.last()["response_format"]["json_schema"]["name"] == "search_terms", "schema sent")
    raw = client.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "x"}])
    expect(raw.headers.get("x-request-id", "").startswith("req_"), "x-request-id header")

    # Speech: each model, instructions only where the model takes them, real audio back.
    for model in ("tts-1", "tts-1-hd"):
        audio = client.audio.speech.create(model=model, voice="alloy", input="A fox in the snow.")
        expect(audio.content[:3] == b"ID3" or audio.content[0] == 0xFF, f"{model}: an MP3")
    hd = client.audio.speech.with_raw_response.create(
        model="gpt-4o-mini-tts", voice="coral", input="A fox in the snow.",
        instructions="Speak calmly.", response_format="wav")
    expect(hd.content[:4] == b"RIFF", "a WAV when asked")
    expect(hd.headers.get("x-request-id", "").startswith("req_"), "x-request-id on speech")
    expect(fake.last()["instructions"] == "Speak calmly.", f"instructions sent: {fake.last()}")
    try:
        client.audio.speech.create(model="tts-1", voice="alloy", input="x", instructions="no")
        raise AssertionError("tts-1 takes no instructions")
    except openai.BadRequestError as e:
        expect(e.param == "instructions" if hasattr(e, "param") else True, f"{e}")

    # 429 with Retry-After: the client's own retry waits and succeeds.
    fake.set(mode="rate_limit", count=1, retry_after=0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    # Errors parse as OpenAI errors.
    try:
        openai.OpenAI(api_key="sk-fake", base_url=fake.base + "/v1", max_retries=0).chat.completions.create(
            model="m", messages=[])
        raise AssertionError("empty messages must fail")
    except openai.BadRequestError as e:
        expect(e.status_code == 400, "400 parsed")
    expect(fake.stats()["submissions"] == 8, f"eight calls counted: {fake.stats()}")
    print("CHECK OK")
finally:
    fake.stop()
