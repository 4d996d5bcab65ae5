"""A fake Pexels API (api.pexels.com) for tests. See stockbase.py and ../providers/fakebase.py.

Wire format (https://www.pexels.com/api/documentation/):
  GET /v1/search?query=&orientation=&size=&locale=&page=&per_page=      search photos
      {"total_results", "page", "per_page", "photos": [Photo], "next_page"?, "prev_page"?}
      Photo: {id, width, height, url, photographer, photographer_url, photographer_id,
              avg_color, src: {original, large2x, large, medium, small, portrait, landscape,
              tiny}, liked, alt}
  GET /videos/search?query=&orientation=&size=&locale=&page=&per_page=  search videos
      {"total_results", "page", "per_page", "url", "videos": [Video], "next_page"?}
      Video: {id, width, height, url, image, full_res, tags, duration, user: {id, name, url},
              video_files: [{id, quality, file_type, width, height, fps, link, size}],
              video_pictures: [{id, picture, nr}]}
  (/v1/videos/search is served too: the documentation names both.)
Every request needs `Authorization: <key>`; a missing or wrong key is 401. `orientation` is
landscape, portrait or square; `per_page` at most 80. Successful answers carry
X-Ratelimit-Limit, X-Ratelimit-Remaining and X-Ratelimit-Reset, as documented. Pexels does not
document its error bodies: the fake answers {"error": "..."} with the status, and 429 through
fakebase's rate_limit mode (with a Retry-After, as a proxy in front may add).
Files (the catalogue's `link` and `src` URLs) are the fake's own /__fake/files/.
"""

import time
from urllib.parse import urlencode

from stockbase import KEY, StockHandler, match_words, serve

PHOTOS = [
    (2014422, 6000, 4000, "brown-rocks-on-a-beach-at-sunset", "Ana Costa", "Brown rocks on a beach at sunset"),
    (3000001, 3000, 4500, "lighthouse-on-a-rocky-beach", "Ben Okafor", "Lighthouse on a rocky beach"),
    (3000002, 640, 480, "small-beach-umbrella", "Chen Wei", "A beach umbrella in the sand"),
    (3000003, 2000, 2000, "sunset-over-the-city", "Dana Levi", "Sunset over the city skyline"),
]

# id, width, height, slug, user, duration, files as (quality, width, height)
VIDEOS = [
    (1448735, 3840, 2160, "waves-crashing-on-a-beach", "Eli Moreau", 12,
     [("uhd", 3840, 2160), ("hd", 1920, 1080), ("sd", 640, 360), ("hls", None, None)]),
    (1448736, 1080, 1920, "surfer-walking-on-the-beach", "Fay Ito", 4,
     [("hd", 1080, 1920), ("sd", 360, 640)]),
    (1448737, 1280, 720, "city-traffic-at-night", "Gus Pérez", 30, [("hd", 1280, 720)]),
]


def shape(w, h):
    return "landscape" if w > h * 1.1 else "portrait" if h > w * 1.1 else "square"


class PexelsHandler(StockHandler):
    def handle_provider(self, method, path, query):
        if self.headers.get("Authorization") != KEY:
            return self.send_json(401, {"error": "Unauthorized: a valid API key is required"})
        if method != "GET":
            return self.send_json(405, {"error": "method not allowed"})
        q = {k: v[0] for k, v in query.items()}
        if path in ("/v1/search", "/v1/search/"):
            return self.search(q, "photos")
        if path in ("/videos/search", "/videos/search/", "/v1/videos/search"):
            return self.search(q, "videos")
        self.send_json(404, {"error": "not found"})

    def search(self, q, what):
        text = q.get("query", "").strip()
        if not text:
            return self.send_json(400, {"error": "query is required"})
        orientation = q.get("orientation")
        if orientation not in (None, "landscape", "portrait", "square"):
            return self.send_json(400, {"error": "orientation must be landscape, portrait or square"})
        try:
            page = max(1, int(q.get("page", 1)))
            per_page = min(80, max(1, int(q.get("per_page", 15))))
        except ValueError:
            return self.send_json(400, {"error": "page and per_page are numbers"})
        self.record({"path": what, "query": q})
        items = [self.photo(p) for p in PHOTOS] if what == "photos" else [self.video(v) for v in VIDEOS]
        words = (lambda i: i["alt"] + " " + i["url"]) if what == "photos" else (lambda i: i["url"])
        hits = [i for i in items if match_words(text, words(i))
                and (orientation is None or shape(i["width"], i["height"]) == orientation)]
        start = (page - 1) * per_page
        body = {"page": page, "per_page": per_page, "total_results": len(hits),
                what: hits[start:start + per_page]}
        api = "v1/search" if what == "photos" else "videos/search"
        base_q = {k: v for k, v in q.items() if k not in ("page", "per_page")}
        if start + per_page < len(hits):
            body["next_page"] = f"{self.base_url()}/{api}/?" + urlencode({**base_q, "page": page + 1, "per_page": per_page})
        if page > 1:
            body["prev_page"] = f"{self.base_url()}/{api}/?" + urlencode({**base_q, "page": page - 1, "per_page": per_page})
        if what == "videos":
            body["url"] = f"https://www.pexels.com/search/videos/{text}/"
        self.send_json(200, body, {"X-Ratelimit-Limit": "20000", "X-Ratelimit-Remaining": "19999",
                                   "X-Ratelimit-Reset": str(int(time.time()) + 30 * 86400)})

    def photo(self, p):
        pid, w, h, slug, who, alt = p
        photo = self.file_url("photo.jpg")
        return {
            "id": pid, "width": w, "height": h,
            "url": f"https://www.pexels.com/photo/{slug}-{pid}/",
            "photographer": who,
            "photographer_url": f"https://www.pexels.com/@{who.split()[0].lower()}",
            "photographer_id": pid % 1000, "avg_color": "#978E82",
            "src": {k: photo for k in ("original", "large2x", "large", "medium", "small", "portrait", "landscape", "tiny")},
            "liked": False, "alt": alt,
        }

    def video(self, v):
        vid, w, h, slug, who, duration, files = v
        clip = self.file_url("clip.mp4")
        return {
            "id": vid, "width": w, "height": h,
            "url": f"https://www.pexels.com/video/{slug}-{vid}/",
            "image": self.file_url("photo.jpg"), "full_res": None, "tags": [], "duration": duration,
            "user": {"id": vid % 1000, "name": who, "url": f"https://www.pexels.com/@{who.split()[0].lower()}"},
            "video_files": [
                {"id": vid * 10 + n, "quality": qual,
                 "file_type": "video/mp4" if fw else "application/x-mpegURL",
                 "width": fw, "height": fh, "fps": 25.0 if fw else None,
                 "link": clip if fw else f"{self.base_url()}/__fake/files/playlist.m3u8"}
                for n, (qual, fw, fh) in enumerate(files)
            ],
            "video_pictures": [{"id": vid, "picture": self.file_url("photo.jpg"), "nr": 0}],
        }


if __name__ == "__main__":
    serve(PexelsHandler, "fake Pexels API")
