"""What the stock fakes (pexels_fake.py, pixabay_fake.py) add to the provider fakes' base
(../providers/fakebase.py: the threaded server, fault modes, /__fake/stats and /__fake/mode,
the real 1-second MP4 at /__fake/files/clip.mp4):

* a real JPEG (320x180, ffmpeg `testsrc`) at /__fake/files/photo.jpg, made into the work dir;
* the accepted key: only requests carrying KEY (or the --key given) are answered;
* `match_words`: a provider matches a result when every query word is among its words;
* the catalogue a fake searches, read from the provider's own JSON format (each fake builds it).
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "providers"))

from fakebase import FakeHandler, serve  # noqa: E402  (the path is set just above)

KEY = os.environ.get("STOCK_FAKE_KEY", "sk-test-SECRET-0123456789")


def make_photo(work_dir):
    out = os.path.join(work_dir, "photo.jpg")
    if not os.path.exists(out):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x180",
                        "-frames:v", "1", out], check=True)
    return out


def match_words(query, words):
    """Every word of the query (case-insensitive, plural `s` folded) appears among `words`."""
    def fold(w):
        return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
    have = {fold(w) for w in re.split(r"[^a-z0-9]+", words.lower()) if w}
    want = [fold(w) for w in re.split(r"[^a-z0-9]+", query.lower()) if w]
    return bool(want) and all(w in have for w in want)


class StockHandler(FakeHandler):
    def _control(self, method, path):
        if path == "/__fake/files/photo.jpg":
            self.state.bump("downloads")
            with open(make_photo(self.server.work_dir), "rb") as f:
                data = f.read()
            return self.send_raw(200, data, "image/jpeg")
        return super()._control(method, path)

    def file_url(self, name="clip.mp4"):
        return f"{self.base_url(self.state.file_host)}/__fake/files/{name}"


__all__ = ["StockHandler", "serve", "KEY", "match_words", "make_photo"]
