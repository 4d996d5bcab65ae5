"""A real SMTP server (aiosmtpd) for tests: saves every message it accepts into a folder.

Usage: python3 smtp_sink.py OUT_DIR [--user NAME --password PASSWORD] [--starttls]

Listens on 127.0.0.1 on a free port and prints "READY <port>" once it accepts connections.
Each message is written as OUT_DIR/<n>.eml (the bytes as received after DATA), with
OUT_DIR/<n>.json beside it holding the envelope (MAIL FROM, RCPT TO) and the authenticated user.
Both are written under a temporary name and renamed, so a reader never sees half a file.
With --user, AUTH PLAIN/LOGIN is offered over the plain connection (loopback only) and required.
With --starttls, a self-signed certificate for localhost is made with openssl into
OUT_DIR/cert.pem and STARTTLS is required before MAIL.
"""

import argparse
import asyncio
import itertools
import json
import os
import ssl
import subprocess
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    sys.stderr.write(
        "aiosmtpd is not installed: run `pip install aiosmtpd` (scripts/setup does this)\n"
    )
    sys.exit(3)


class SaveHandler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth_user": login,
        }
        self._write(f"{n}.json", json.dumps(meta).encode())
        self._write(f"{n}.eml", envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def _write(self, name, data):
        tmp = os.path.join(self.out_dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.out_dir, name))


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # auth_data is kept on the session, so the saved envelope records who logged in.
        # handled=False lets aiosmtpd answer a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


def make_tls_context(out_dir):
    cert = os.path.join(out_dir, "cert.pem")
    key = os.path.join(out_dir, "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-keyout", key, "-out", cert,
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--starttls", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    handler = SaveHandler(args.out_dir)
    options = {}
    if args.user:
        options.update(
            authenticator=make_authenticator(args.user, args.password),
            auth_required=True,
            auth_require_tls=False,
        )
    if args.starttls:
        options.update(tls_context=make_tls_context(args.out_dir), require_starttls=True)

    def factory():
        return SMTP(handler, **options)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    # Exit when the test closes our stdin or kills us.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
