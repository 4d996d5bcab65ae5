"""A fake Pixabay API (pixabay.com/api/) for tests. See stockbase.py and ../providers/fakebase.py.

Wire format (https://pixabay.com/api/docs/):
  GET /api/?key=&q=&lang=&image_type=&orientation=&category=&min_width=&min_height=&colors=
           &editors_choice=&safesearch=&order=&page=&per_page=                search images
      {"total", "totalHits", "hits": [{id, pageURL, type, tags, previewURL, previewWidth,
       previewHeight, webformatURL, webformatWidth, webformatHeight, largeImageURL, imageWidth,
       imageHeight, imageSize, views, downloads, collections, likes, comments, user_id, user,
       userImageURL}]}
  GET /api/videos/?key=&q=&lang=&video_type=&category=&min_width=&min_height=&editors_choice=
           &safesearch=&order=&page=&per_page=                                 search videos
      {"total", "totalHits", "hits": [{id, pageURL, type, tags, duration, videos: {large,
       medium, small, tiny: {url, width, height, size, thumbnail}}, views, downloads, likes,
       comments, user_id, user, userImageURL}]}
      A rendition Pixabay does not have is {"url": "", "width": 0, "height": 0, "size": 0}.
The key is the `key` query parameter. Errors are plain text with the status, as documented:
a missing or wrong key is `400 [ERROR 400] Invalid or missing API key`, a per_page outside 3..200
is a 400, too many requests `429` (fakebase's rate_limit mode, whose body is made plain text
here too). POST /__fake/echo_url makes the next answer a 400 quoting the request's URL, key
included. Files are the fake's own /__fake/files/.
"""

from stockbase import KEY, StockHandler, match_words, serve

# id, width, height, tags, user
IMAGES = [
    (621112, 5184, 3456, "beach, sunset, sea, rocks", "Teerasuwat"),
    (2796393, 3000, 4000, "lighthouse, beach, coast", "RitaE"),
    (1000001, 800, 600, "beach, umbrella", "Mia"),
]

# id, tags, duration, user, renditions as (name, width, height, size)
VIDEOS = [
    (125, "waves, beach, sea", 12, "Coverr-Free-Footage",
     [("large", 3840, 2160, 40_000_000), ("medium", 1920, 1080, 9_000_000),
      ("small", 1280, 720, 4_000_000), ("tiny", 960, 540, 2_000_000)]),
    (126, "surfer, beach", 4, "Oleg",
     [("large", 0, 0, 0), ("medium", 1080, 1920, 3_000_000), ("small", 720, 1280, 1_500_000),
      ("tiny", 360, 640, 600_000)]),
    (127, "city, traffic, night", 300, "Night-Owl", [("medium", 1920, 1080, 90_000_000)]),
]


class PixabayHandler(StockHandler):
    def send_json(self, status, obj, headers=None):
        # Pixabay's error answers are plain text, not JSON (fakebase's faults included).
        if status >= 400:
            detail = obj.get("detail") or obj.get("error") or "error"
            return self.send_raw(status, f"[ERROR {status}] {detail}".encode(), "text/plain", headers)
        return super().send_json(status, obj, headers)

    def _control(self, method, path):
        # POST /__fake/echo_url: the next request is answered 400 quoting its own URL, key and
        # all (as a careless proxy might), to prove the client redacts what comes back.
        if path == "/__fake/echo_url" and method == "POST":
            self.body_bytes()
            with self.state.lock:
                self.state.extra["echo_url"] = 1
            return super().send_json(200, {"ok": True})
        return super()._control(method, path)

    def handle_provider(self, method, path, query):
        with self.state.lock:
            echo = self.state.extra.pop("echo_url", 0)
        if echo:
            return self.send_json(400, {"detail": f"bad request {self.path}"})
        q = {k: v[0] for k, v in query.items()}
        if q.get("key") != KEY:
            return self.send_json(400, {"detail": "Invalid or missing API key"})
        if method != "GET":
            return self.send_json(405, {"detail": "method not allowed"})
        try:
            per_page = int(q.get("per_page", 20))
            page = max(1, int(q.get("page", 1)))
        except ValueError:
            return self.send_json(400, {"detail": '"per_page" is not a number'})
        if not 3 <= per_page <= 200:
            return self.send_json(400, {"detail": '"per_page" is out of valid range.'})
        if len(q.get("q", "")) > 100:
            return self.send_json(400, {"detail": '"q" is too long.'})
        if path in ("/api/", "/api"):
            return self.search(q, page, per_page, [self.image(i) for i in IMAGES])
        if path in ("/api/videos/", "/api/videos"):
            return self.search(q, page, per_page, [self.video(v) for v in VIDEOS])
        self.send_json(404, {"detail": "not found"})

    def search(self, q, page, per_page, items):
        self.record({"query": {k: v for k, v in q.items() if k != "key"}})
        text = q.get("q", "").strip()
        hits = [i for i in items if not text or match_words(text, i["tags"])]
        orientation = q.get("orientation", "all")
        if orientation == "horizontal":
            hits = [i for i in hits if i.get("imageWidth", 1) > i.get("imageHeight", 0)]
        elif orientation == "vertical":
            hits = [i for i in hits if i.get("imageHeight", 1) > i.get("imageWidth", 0)]
        start = (page - 1) * per_page
        self.send_json(200, {"total": len(hits), "totalHits": len(hits), "hits": hits[start:start + per_page]},
                       {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "60"})

    def image(self, i):
        iid, w, h, tags, user = i
        photo = self.file_url("photo.jpg")
        return {
            "id": iid, "pageURL": f"https://pixabay.com/photos/{tags.split(',')[0]}-{iid}/", "type": "photo",
            "tags": tags, "previewURL": photo, "previewWidth": 150, "previewHeight": 99,
            "webformatURL": photo, "webformatWidth": 640, "webformatHeight": 426,
            "largeImageURL": photo, "imageWidth": w, "imageHeight": h, "imageSize": 2_000_000,
            "views": 7671, "downloads": 6439, "collections": 1, "likes": 5, "comments": 2,
            "user_id": iid % 100_000, "user": user,
            "userImageURL": "https://cdn.pixabay.com/user/2015/02/02/17-19-43-530_250x250.jpg",
        }

    def video(self, v):
        vid, tags, duration, user, renditions = v
        clip = self.file_url("clip.mp4")
        videos = {name: {"url": "", "width": 0, "height": 0, "size": 0, "thumbnail": ""}
                  for name in ("large", "medium", "small", "tiny")}
        for name, w, h, size in renditions:
            if w:
                videos[name] = {"url": clip, "width": w, "height": h, "size": size,
                                "thumbnail": self.file_url("photo.jpg")}
        return {
            "id": vid, "pageURL": f"https://pixabay.com/videos/id-{vid}/", "type": "film",
            "tags": tags, "duration": duration, "videos": videos,
            "views": 4462, "downloads": 1464, "likes": 18, "comments": 0,
            "user_id": vid * 7, "user": user,
            "userImageURL": "https://cdn.pixabay.com/user/2015/10/16/09-28-45-303_250x250.png",
        }


if __name__ == "__main__":
    serve(PixabayHandler, "fake Pixabay API")
