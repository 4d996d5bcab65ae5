"""Drives veo_fake.py with Google's official `google-genai` client from PyPI.

The client takes its API root from `genai.Client(http_options=HttpOptions(base_url=...))`.
`api_version="v1beta"` because Veo lives under v1beta. It recognises a generated video's file name only in an https:// URI, so the fake runs with
--tls (a throwaway self-signed certificate for 127.0.0.1, made with openssl) and SSL_CERT_FILE
points the client's httpx at it.

google-genai 3.4's typed `models.generate_videos` refuses the Gemini Developer API ("only
supported in ... Agent Platform mode"), so the submission goes through the client's own API
transport (`client._api_client.request`: same base URL, key header and error handling) with the
documented `:predictLongRunning` body; polling (`operations.get`) and the download
(`files.download`) use the typed methods. Prints CHECK OK on success.
"""

import os

from checkutil import Fake, expect, need

need("google.genai", "google-genai")
fake = Fake("veo_fake.py", tls=True)
try:
    os.environ["SSL_CERT_FILE"] = fake.cert
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        os.environ.pop(var, None)
    import time
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="fake-gemini-key", http_options=types.HttpOptions(base_url=fake.base, api_version="v1beta"))
    import base64
    import json

    def submit(body):
        resp = client._api_client.request("post", "models/veo-3.1-generate-preview:predictLongRunning", body)
        return types.GenerateVideosOperation(name=json.loads(resp.body)["name"])

    op = submit({
        "instances": [{"prompt": "a fox in snow", "image": {
            "bytesBase64Encoded": base64.b64encode(b"\x89PNG fake").decode(), "mimeType": "image/png"}}],
        "parameters": {"aspectRatio": "9:16", "durationSeconds": 6, "resolution": "720p", "negativePrompt": "blur"},
    })
    expect(op.name.startswith("models/veo-3.1-generate-preview/operations/"), f"operation name: {op.name}")
    body = fake.last()["body"]
    expect(body["parameters"]["durationSeconds"] == 6 and body["parameters"]["aspectRatio"] == "9:16",
           f"parameters as the fake reads them: {body['parameters']}")
    expect(body["instances"][0]["image"]["mimeType"] == "image/png", "image as base64 with its type")
    for _ in range(50):
        op = client.operations.get(op)
        if op.done:
            break
        time.sleep(0.05)
    expect(op.done and op.response is not None, f"done with a response: {op}")
    video = op.response.generated_videos[0].video
    data = client.files.download(file=video)
    expect(data == fake.clip() and data[4:8] == b"ftyp", "the downloaded video is the fake's clip")

    # A failed operation carries its error.
    fake.set(job_fail=True, polls=1)
    op2 = submit({"instances": [{"prompt": "x"}], "parameters": {}})
    op2 = client.operations.get(op2)
    expect(op2.done and "content rejected" in str(op2.error), f"error reaches the client: {op2.error}")
    # A duration Veo does not offer is refused in Google's error shape, which the client parses.
    try:
        submit({"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 5}})
        raise AssertionError("5 s must be refused")
    except genai.errors.ClientError as e:
        expect(e.code == 400 and "durationSeconds" in str(e), f"400 parsed: {e}")
    expect(fake.stats()["submissions"] == 2, f"two submissions: {fake.stats()}")
    print("CHECK OK")
finally:
    fake.stop()
