"""A fake of GitHub's OAuth app endpoints and the two REST calls sign-in makes, for tests.

Wire format (docs.github.com, "Authorizing OAuth apps" and REST API version 2022-11-28):
  GET  /login/oauth/authorize?client_id&redirect_uri&state&scope[&code_challenge&code_challenge_method=S256]
       -> 302 redirect_uri?code=...&state=...   (GitHub shows its consent page first; the fake
          signs in the person named by the extra, fake-only `login` parameter)
  POST /login/oauth/access_token   form: client_id, client_secret, code, redirect_uri[, code_verifier]
       with Accept: application/json
       -> 200 {"access_token": "gho_...", "token_type": "bearer", "scope": "read:user,user:email"}
       -> 200 {"error": "bad_verification_code", "error_description": ..., "error_uri": ...}
          (GitHub answers errors with 200 too)
  GET  /user          Authorization: Bearer <token>
       -> {"login", "id", "node_id", "name", "email", "type": "User", ...}
  GET  /user/emails   -> [{"email", "primary", "verified", "visibility"}]
  401  {"message": "Bad credentials", "documentation_url": ...} without a valid token.

People: `<login>` has the verified primary address <login>@example.org (and an unverified
secondary one); `unverified-<login>`'s primary address is not verified.
Test control: GET /__test/issued lists the access tokens handed out.

Usage: python3 github_fake.py --client-id ID --client-secret SECRET
Prints {"url": "http://127.0.0.1:PORT"} on one line, then serves until stdin closes.
"""

import argparse
import base64
import hashlib
import json
import secrets
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

CODES = {}    # code -> {login, client_id, redirect_uri, challenge}
TOKENS = {}   # token -> login
ISSUED = []
LOCK = threading.Lock()


def user_id(login):
    return zlib.crc32(login.encode()) + 1000


class Handler(BaseHTTPRequestHandler):
    server_version = "GitHub.com"

    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/login/oauth/authorize":
            return self.authorize(q)
        if url.path == "/__test/issued":
            with LOCK:
                return self.send_json(200, list(ISSUED))
        if url.path in ("/user", "/user/emails"):
            login = self.bearer()
            if login is None:
                return self.send_json(401, {"message": "Bad credentials",
                                            "documentation_url": "https://docs.github.com/rest"})
            return self.send_json(200, self.user(login) if url.path == "/user" else self.emails(login))
        self.send_json(404, {"message": "Not Found"})

    def do_POST(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path != "/login/oauth/access_token":
            return self.send_json(404, {"message": "Not Found"})
        if form.get("client_id") != ARGS.client_id or form.get("client_secret") != ARGS.client_secret:
            return self.send_json(200, {"error": "incorrect_client_credentials",
                                        "error_description": "The client_id and/or client_secret passed are incorrect."})
        with LOCK:
            grant = CODES.pop(form.get("code", ""), None)
        bad = {"error": "bad_verification_code",
               "error_description": "The code passed is incorrect or expired."}
        if grant is None or grant["client_id"] != form["client_id"]:
            return self.send_json(200, bad)
        if grant["redirect_uri"] and form.get("redirect_uri") not in (None, grant["redirect_uri"]):
            return self.send_json(200, {"error": "redirect_uri_mismatch",
                                        "error_description": "The redirect_uri MUST match the registered callback URL for this application."})
        if grant["challenge"]:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != grant["challenge"]:
                return self.send_json(200, bad)
        token = "gho_" + secrets.token_urlsafe(27)
        with LOCK:
            TOKENS[token] = grant["login"]
            ISSUED.append(token)
        if "application/json" in (self.headers.get("Accept") or ""):
            return self.send_json(200, {"access_token": token, "token_type": "bearer",
                                        "scope": "read:user,user:email"})
        data = urlencode({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-www-form-urlencoded")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorize(self, q):
        if q.get("client_id") != ARGS.client_id or not q.get("redirect_uri") or not q.get("login"):
            return self.send_json(400, {"message": "client_id, redirect_uri and login are required"})
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            return self.send_json(400, {"message": "only S256 code challenges"})
        code = secrets.token_hex(10)
        with LOCK:
            CODES[code] = {"login": q["login"], "client_id": q["client_id"],
                           "redirect_uri": q["redirect_uri"], "challenge": q.get("code_challenge")}
        sep = "&" if "?" in q["redirect_uri"] else "?"
        self.send_response(302)
        self.send_header("Location", q["redirect_uri"] + sep + urlencode({"code": code, "state": q.get("state", "")}))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def bearer(self):
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        with LOCK:
            return TOKENS.get(token.strip())

    def user(self, login):
        uid = user_id(login)
        return {"login": login, "id": uid, "node_id": f"U_fake{uid}",
                "avatar_url": "", "type": "User", "site_admin": False,
                "name": f"Test {login}", "email": None,
                "html_url": f"https://github.com/{login}", "url": f"https://api.github.com/users/{login}"}

    def emails(self, login):
        return [
            {"email": f"{login}@example.org", "primary": True,
             "verified": not login.startswith("unverified-"), "visibility": "private"},
            {"email": f"{login}.other@example.net", "primary": False, "verified": False, "visibility": None},
        ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    ARGS = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
