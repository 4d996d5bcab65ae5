"""Drives fal_fake.py with the official fal-client from PyPI, proving the fake is faithful.

fal-client builds its queue URLs as https://{FAL_QUEUE_RUN_HOST}/... from environment variables
read at import time, and only speaks https. So the fake runs with --tls (a throwaway
self-signed certificate for 127.0.0.1, made with openssl), FAL_QUEUE_RUN_HOST points at it,
and SSL_CERT_FILE (honoured by httpx, which fal-client uses) trusts that certificate.
Prints CHECK OK on success.
"""

import os
import sys

from checkutil import Fake, expect, need

need("fal_client", "fal-client")
fake = Fake("fal_fake.py", tls=True)
try:
    os.environ["FAL_QUEUE_RUN_HOST"] = f"127.0.0.1:{fake.port}"
    os.environ["FAL_RUN_HOST"] = f"127.0.0.1:{fake.port}"
    os.environ["SSL_CERT_FILE"] = fake.cert
    os.environ["FAL_KEY"] = "fake-key-id:fake-key-secret"
    import fal_client  # after the environment: the hosts are read at import
    import httpx

    app = "fal-ai/kling-video/v2.1/master/text-to-video"
    client = fal_client.SyncClient(key="fake-key-id:fake-key-secret")

    # Submit, watch the status move, fetch the result.
    handle = client.submit(app, arguments={"prompt": "a fox", "duration": "5", "aspect_ratio": "16:9"})
    expect(handle.request_id, "a request id")
    first = handle.status(with_logs=True)
    expect(isinstance(first, (fal_client.Queued, fal_client.InProgress)), f"queued or running first, got {first!r}")
    result = handle.get()
    url = result["video"]["url"]
    data = httpx.get(url, verify=fake.cert).content
    expect(data == fake.clip(), "the result URL serves the fake's clip")
    expect(data[4:8] == b"ftyp", "a real MP4")
    expect(isinstance(handle.status(), fal_client.Completed), "completed at the end")

    # The result by request id alone (as when resuming), with the owner/app URL the client builds.
    again = client.result(app, handle.request_id)
    expect(again["video"]["url"] == url, "result by request id")

    # An image app: FLUX answers a real JPEG of the size asked, in fal's documented result shape.
    image = client.subscribe("fal-ai/flux/schnell", arguments={
        "prompt": "a red fox at dawn", "image_size": "landscape_16_9", "num_images": 1, "seed": 7})
    first = image["images"][0]
    expect((first["width"], first["height"], first["content_type"]) == (1024, 576, "image/jpeg"), f"{image}")
    expect(image["seed"] == 7 and image["has_nsfw_concepts"] == [False], f"{image}")
    jpeg = httpx.get(first["url"], verify=fake.cert)
    expect(jpeg.content[:3] == b"\xff\xd8\xff" and jpeg.headers["content-type"] == "image/jpeg", "a real JPEG")

    # Cancel reaches the fake.
    fake.set(polls=1000)
    h2 = client.submit(app, arguments={"prompt": "a fox"})
    h2.cancel()
    expect(fake.stats()["cancels"] == 1, "one cancel counted")

    # A failed job: the client raises on the result.
    fake.set(polls=1, job_fail=True)
    h3 = client.submit(app, arguments={"prompt": "a fox"})
    try:
        h3.get()
        raise AssertionError("a failed job must raise")
    except fal_client.client.FalClientHTTPError as e:
        expect("content rejected" in str(e), f"the failure reason reaches the client: {e}")
    fake.set(job_fail=False)

    # A content refusal, in fal's documented model-error shape: the status is COMPLETED and the
    # result raises with a 422 whose detail is a typed list, X-Fal-Retryable false.
    fake.set(polls=1, job_refuse=True)
    h4 = client.submit(app, arguments={"prompt": "a fox"})
    try:
        h4.get()
        raise AssertionError("a refused job must raise")
    except fal_client.client.FalClientHTTPError as e:
        expect(e.status_code == 422, f"422, got {e.status_code}")
        detail = e.response.json()["detail"]
        expect(detail[0]["type"] == "content_policy_violation", f"typed detail: {detail}")
        expect(e.response.headers.get("x-fal-retryable") == "false", "not retryable")
    fake.set(job_refuse=False)

    # 429 with Retry-After: the client retries and succeeds.
    fake.set(mode="rate_limit", count=1, retry_after=0)
    client.submit(app, arguments={"prompt": "a fox"})
    expect(fake.stats()["submissions"] == 6, f"six submissions: {fake.stats()}")

    # The fake checks the Authorization: Key header the way fal does.
    bad = httpx.post(f"{fake.base}/{app}", json={"prompt": "x"}, verify=fake.cert)
    expect(bad.status_code == 401, "no key, no submission")
    print("CHECK OK")
finally:
    fake.stop()
