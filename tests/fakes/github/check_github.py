"""Drives github_fake.py with PyGithub, the official-in-practice GitHub client from PyPI, to show
the fake's `/user` and `/user/emails` answers are what GitHub's real client reads; the OAuth web
flow (authorize, then the code for a token at /login/oauth/access_token) is driven by hand as
GitHub's docs describe it. Prints CHECK OK on success.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
try:
    from github import Auth, Github
except ImportError:
    sys.exit("PyGithub is missing: run scripts/setup --test")


def expect(ok, what):
    if not ok:
        sys.exit(f"CHECK FAILED: {what}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


proc = subprocess.Popen([sys.executable, os.path.join(here, "github_fake.py"),
                         "--client-id", "Iv1.fake", "--client-secret", "fake-secret"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
try:
    base = json.loads(proc.stdout.readline())["url"]
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "client_id": "Iv1.fake", "redirect_uri": "http://app.test/cb", "state": "s1",
        "scope": "read:user user:email", "code_challenge": challenge,
        "code_challenge_method": "S256", "login": "octo-check"})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{base}/login/oauth/authorize?{query}")
        expect(False, "authorize redirects")
    except urllib.error.HTTPError as e:
        expect(e.code == 302, f"authorize answers 302, got {e.code}")
        back = urllib.parse.urlsplit(e.headers["Location"])
    params = dict(urllib.parse.parse_qsl(back.query))
    expect(params["state"] == "s1", "state comes back")

    def exchange(code, verifier):
        body = urllib.parse.urlencode({"client_id": "Iv1.fake", "client_secret": "fake-secret",
                                       "code": code, "redirect_uri": "http://app.test/cb",
                                       "code_verifier": verifier}).encode()
        req = urllib.request.Request(f"{base}/login/oauth/access_token", data=body,
                                     headers={"Accept": "application/json"})
        return json.loads(urllib.request.urlopen(req).read())

    expect(exchange(params["code"], "w" * 50).get("error") == "bad_verification_code",
           "a wrong PKCE verifier is refused, with 200 as GitHub does")
    # The code was used up by the failed try, as GitHub's codes are single-use: start again.
    try:
        opener.open(f"{base}/login/oauth/authorize?{query}")
    except urllib.error.HTTPError as e:
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(e.headers["Location"]).query))
    token = exchange(params["code"], verifier)
    expect(token["token_type"] == "bearer" and token["access_token"].startswith("gho_"), f"token: {token}")

    gh = Github(auth=Auth.Token(token["access_token"]), base_url=base)
    user = gh.get_user()
    expect(user.login == "octo-check", f"login: {user.login}")
    expect(isinstance(user.id, int) and user.id > 0, "a numeric id")
    emails = user.get_emails()
    primary = [e for e in emails if e.primary]
    expect(len(primary) == 1 and primary[0].verified and primary[0].email == "octo-check@example.org",
           f"one verified primary address: {emails}")
    bad = Github(auth=Auth.Token("gho_wrong"), base_url=base)
    try:
        bad.get_user().login
        expect(False, "a wrong token is refused")
    except Exception as e:  # github.BadCredentialsException
        expect(type(e).__name__ == "BadCredentialsException", f"401 Bad credentials, got {e!r}")
    print("CHECK OK")
finally:
    proc.stdin.close()
    proc.wait(timeout=5)
