"""Drives replicate_fake.py with the official `replicate` client from PyPI.

The client takes its API host from `replicate.Client(base_url=...)` (or REPLICATE_BASE_URL),
and speaks plain http to it, so no certificate is needed. Prints CHECK OK on success.
"""

import os

from checkutil import Fake, expect, need

need("replicate", "replicate")
fake = Fake("replicate_fake.py")
try:
    os.environ["REPLICATE_POLL_INTERVAL"] = "0.05"
    import replicate
    import httpx

    client = replicate.Client(api_token="r8_fake_token", base_url=fake.base)

    # An official model, by name: POST /v1/models/{owner}/{name}/predictions.
    p = client.predictions.create(model="google/veo-3.1", input={"prompt": "a fox", "duration": 8})
    expect(p.status in ("starting", "processing"), f"starts, got {p.status}")
    expect(fake.last()["model"] == "google/veo-3.1", "created by model name")
    p.wait()
    expect(p.status == "succeeded", f"succeeds, got {p.status}")
    data = httpx.get(p.output).content
    expect(data == fake.clip() and data[4:8] == b"ftyp", "the output URL serves the fake's clip")

    # By version, with Prefer: wait (the client's wait=), and a webhook.
    p2 = client.predictions.create(version="5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
                                   input={"prompt": "a fox"}, wait=5,
                                   webhook="https://example.invalid/hook", webhook_events_filter=["completed"])
    last = fake.last()
    expect(last["prefer"] == "wait=5", f"Prefer header sent: {last}")
    expect(last["body"]["webhook_events_filter"] == ["completed"], "webhook fields pass through")
    expect(p2.status == "succeeded", f"Prefer: wait answers finished, got {p2.status}")

    # Reload by id (resuming) and cancel.
    fake.set(polls=1000)
    p3 = client.predictions.create(model="google/veo-3.1", input={"prompt": "a fox"})
    again = client.predictions.get(p3.id)
    expect(again.id == p3.id and again.status in ("starting", "processing"), "get by id")
    p3.cancel()
    p3.reload()
    expect(p3.status == "canceled", f"canceled, got {p3.status}")
    expect(fake.stats()["cancels"] == 1, "one cancel counted")

    # A failed prediction carries its error.
    fake.set(polls=1, job_fail=True)
    p4 = client.predictions.create(model="google/veo-3.1", input={"prompt": "a fox"})
    p4.wait()
    expect(p4.status == "failed" and "content rejected" in p4.error, f"failed with reason: {p4.status} {p4.error}")
    fake.set(job_fail=False)

    # A refusal carries Replicate's E005 "flagged as sensitive"; a documented code can be set.
    fake.set(polls=1, job_refuse=True)
    p5 = client.predictions.create(model="google/veo-3.1", input={"prompt": "a fox"})
    p5.wait()
    expect(p5.status == "failed" and p5.error.startswith("(E005)"), f"refused: {p5.error}")
    fake.set(job_refuse=False, job_fail=True, error_code="E6716")
    p6 = client.predictions.create(model="google/veo-3.1", input={"prompt": "a fox"})
    p6.wait()
    expect(p6.error.startswith("E6716"), f"coded failure: {p6.error}")
    fake.set(job_fail=False, error_code=None)

    # Errors come back in Replicate's problem-details shape, which the client parses.
    try:
        replicate.Client(api_token="", base_url=fake.base).predictions.get("x")
        raise AssertionError("no token must fail")
    except replicate.exceptions.ReplicateError as e:
        expect(e.status == 401, f"401 parsed: {e}")
    expect(fake.stats()["submissions"] == 6, f"six creates: {fake.stats()}")
    print("CHECK OK")
finally:
    fake.stop()
