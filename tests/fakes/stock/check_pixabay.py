"""Drives pixabay_fake.py with `pixabay` from PyPI, proving the fake speaks what a client
written against Pixabay's documentation expects. Pixabay publishes no official client library
at all; `pixabay` (python-pixabay) is a small community client that takes the API host as a
setting, sends every documented search parameter and reads the documented hit fields.
Prints CHECK OK on success.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "providers"))

from checkutil import Fake, expect, need  # noqa: E402

need("pixabay", "pixabay")
from pixabay import core  # noqa: E402

KEY = "sk-test-SECRET-0123456789"
fake = Fake(os.path.join(HERE, "pixabay_fake.py"))
try:
    px = core(KEY, host=f"{fake.base}/api/")

    # Images: totalHits, the documented fields, the large image downloads as a real JPEG.
    found = px.query("beach", perPage=3)
    expect(len(found) == 3, f"three beach images, got {len(found)}")
    img = found[0]
    expect(img.getTags().startswith("beach") and img.getUser() == "Teerasuwat", "tags and user")
    expect(img.getImageWidth() == 5184 and img.getImageHeight() == 3456, "original size")
    expect(img.getPageURL().startswith("https://pixabay.com/"), "page URL")
    expect(img.downloadRaw("largeImage")[:2] == b"\xff\xd8", "largeImageURL serves a JPEG")
    expect(px.query("beach", perPage=3, orientation="vertical")[0].getId() == 2796393, "vertical filter")

    # Videos: renditions, duration, the medium file is a real MP4.
    clips = px.queryVideo("beach", perPage=3)
    expect(len(clips) == 2, f"two beach videos, got {len(clips)}")
    clip = clips[0]
    expect(clip.getDuration() == 12 and clip.getType() == "film", "duration and type")
    expect(clip.downloadRaw("medium")[4:8] == b"ftyp", "videos.medium.url serves an MP4")
    expect(clips[1].getVideoLarge() == "", "a missing rendition has an empty URL")

    # Nothing found: totalHits 0.
    expect(len(px.query("zebra", perPage=3)) == 0, "no results")

    # A wrong key, and a rate limit: the client raises on the status (plain-text errors).
    for how, setup in (("wrong key", lambda: core("wrong", host=f"{fake.base}/api/")),
                       ("rate limit", lambda: (fake.set(mode="rate_limit", count=1), px)[1])):
        try:
            setup().query("beach", perPage=3)
            raise AssertionError(f"{how} must fail")
        except ValueError as e:
            expect("status code" in str(e), f"{how}: {e}")
    print("CHECK OK")
finally:
    fake.stop()
