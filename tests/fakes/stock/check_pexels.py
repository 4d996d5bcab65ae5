"""Drives pexels_fake.py with `pypexels` from PyPI, proving the fake speaks what a widely used
client expects. Pexels publishes no official Python client (its official libraries are for
Ruby, JavaScript and .NET); pypexels is the long-standing community one, and it builds its
URLs exactly as the documentation does (`{root}/v1/search`, `{root}/videos/search`, the key as
the bare `Authorization` header). Prints CHECK OK on success.
"""

import os
import sys

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "providers"))

from checkutil import Fake, expect, need  # noqa: E402

need("pypexels", "pypexels")
import pypexels  # noqa: E402
from pypexels.src.rest import Rest  # noqa: E402

KEY = "sk-test-SECRET-0123456789"
fake = Fake(os.path.join(HERE, "pexels_fake.py"))
try:
    Rest.api_root = fake.base  # the client's one setting for where the API is
    px = pypexels.PyPexels(api_key=KEY)

    # Photo search: the documented fields, the attribution the client builds from them, paging.
    page = px.search(query="beach", per_page=2)
    photos = list(page.entries)
    expect(page.total_results == 3 and len(photos) == 2, f"3 results, 2 per page: {page.body}")
    first = photos[0]
    for field in ("id", "width", "height", "url", "photographer", "photographer_url", "src", "alt"):
        expect(hasattr(first, field), f"photo field {field}")
    expect(first.get_attribution("txt") == f"Photo by {first.photographer} from Pexels", "attribution")
    expect(page.has_next, "a next page")
    second = page.get_next_page()
    expect([p.id for p in second.entries] == [3000002], "the next page holds the third photo")
    data = requests.get(first.src["original"], timeout=10).content
    expect(data[:2] == b"\xff\xd8", "src.original serves a real JPEG")

    # Video search: video_files with links, the user, the duration.
    videos = list(px.videos_search(query="beach", per_page=5).entries)
    expect({v.id for v in videos} == {1448735, 1448736}, f"two beach videos: {[v.id for v in videos]}")
    v = videos[0]
    expect(isinstance(v.duration, int) and v.user["name"], "duration and user")
    mp4 = [f for f in v.video_files if f["file_type"] == "video/mp4"]
    expect(mp4 and all(f["width"] and f["link"] for f in mp4), "mp4 files with sizes and links")
    expect(requests.get(mp4[0]["link"], timeout=10).content[4:8] == b"ftyp", "a real MP4")
    expect(v.get_attribution("str") == f"Video by {v.user['name']} from Pexels", "video attribution")

    # Nothing found: an empty list, not an error.
    empty = px.search(query="zebra")
    expect(empty.total_results == 0 and list(empty.entries) == [], "no results")

    # A wrong key: the client raises on the 401.
    try:
        pypexels.PyPexels(api_key="wrong").search(query="beach")
        raise AssertionError("a wrong key must fail")
    except pypexels.src.errors.PexelsError as e:
        expect("401" in str(e), f"401 reaches the client: {e}")

    # 429: the client sees the status (it does not retry).
    fake.set(mode="rate_limit", count=1, retry_after=1)
    try:
        px.search(query="beach")
        raise AssertionError("a 429 must fail")
    except pypexels.src.errors.PexelsError as e:
        expect("429" in str(e), f"429 reaches the client: {e}")
    print("CHECK OK")
finally:
    fake.stop()
