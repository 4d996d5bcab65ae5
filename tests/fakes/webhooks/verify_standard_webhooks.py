#!/usr/bin/env python3
"""Verify recorded webhook deliveries with the Standard Webhooks reference library.

Usage: verify_standard_webhooks.py SECRET < deliveries.json

stdin: a JSON list of {"headers": {name: value}, "body": "<raw body as text>"}. Each delivery is
verified with `standardwebhooks.Webhook(SECRET).verify(body, headers)`, an implementation
independent of Reelsmith's; a single failure exits 1 naming it. On success prints the verified
payloads as a JSON list.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> int:
    secret = sys.argv[1]
    deliveries = json.load(sys.stdin)
    hook = Webhook(secret)
    verified = []
    for i, d in enumerate(deliveries):
        try:
            verified.append(hook.verify(d["body"], d["headers"]))
        except Exception as e:  # the library raises WebhookVerificationError
            print(f"delivery {i} failed verification: {e!r}", file=sys.stderr)
            return 1
    json.dump(verified, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
