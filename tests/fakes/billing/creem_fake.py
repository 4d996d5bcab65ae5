"""A local Creem for tests: the parts of Creem's REST API and webhooks Reelsmith uses, in Creem's
wire format (docs.creem.io), with a hosted checkout page.

API (JSON bodies, `x-api-key: creem_test_...`):
  POST /v1/checkouts            {product_id, request_id, success_url, metadata, customer{email}}
                                -> {id, object: "checkout", status: "pending", checkout_url, ...}
  GET  /v1/checkouts?checkout_id=...
Errors: {"status": <code>, "error": "<reason>", "message": ["..."], "trace_id": ...}.

Hosted page: GET /pay/{checkout} shows the order and a Pay button; POST /pay/{checkout} pays it:
the checkout completes, an order is made, `checkout.completed` is sent signed like Creem's
(`creem-signature`: hex HMAC-SHA256 of the raw body under the webhook secret; and Standard
Webhooks' `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body" under the base64-decoded secret>`), and the browser
goes to success_url with checkout_id, order_id, customer_id, product_id, request_id and a
signature appended, as Creem's redirect does.

Control: POST /__fake/config {"webhook_url", "webhook_secret", "products": {id: {price, currency,
billing_type}}}, GET /__fake/events, POST /__fake/mode {"mode": "unavailable", "count": n} (the
next n API calls answer 503), POST /__fake/pay/{checkout} (pay without a browser),
POST /__fake/refund/{order} {"amount"} (sends refund.created), POST /__fake/resend/{event}
(delivers a recorded event again, as the dashboard's resend does).

Prints "READY <port>" once listening on 127.0.0.1.
"""

import argparse
import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

LOCK = threading.Lock()
STATE = {
    "webhook_url": None,
    "webhook_secret": "whsec_creem_fake",
    "products": {},
    "checkouts": {},
    "orders": {},
    "events": [],
    "fault": {"mode": "ok", "count": 0},
}


def new_id(prefix):
    return f"{prefix}_{secrets.token_hex(10)}"


def iso(ts=None):
    return datetime.fromtimestamp(ts or time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sign(secret, payload):
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def standard_key(secret):
    b64 = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(b64, validate=True)
    except ValueError:
        return b64.encode()


def sign_standard(secret, msg_id, ts, payload):
    mac = hmac.new(standard_key(secret), f"{msg_id}.{ts}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def deliver(record):
    url = STATE["webhook_url"]
    if not url:
        return
    payload = record["payload"].encode()
    ts = int(time.time())
    # Both signings, as Creem's endpoints send them: Standard Webhooks and the older header.
    req = urllib.request.Request(url, data=payload, method="POST", headers={
        "Content-Type": "application/json",
        "creem-signature": sign(STATE["webhook_secret"], payload),
        "webhook-id": record["id"],
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_standard(STATE["webhook_secret"], record["id"], ts, payload),
    })
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            record["status"] = r.status
    except urllib.error.HTTPError as e:
        record["status"] = e.code
    except Exception as e:  # the receiver is down: Creem retries later
        record["status"] = f"error: {e}"


def send_event(kind, obj):
    event = {"id": new_id("evt"), "eventType": kind, "created_at": int(time.time() * 1000), "object": obj}
    record = {"id": event["id"], "type": kind, "status": None, "payload": json.dumps(event)}
    deliver(record)
    with LOCK:
        STATE["events"].append(record)
    return record


def complete(c):
    """What paying a checkout does at Creem: an order (and a subscription), the webhook."""
    if c["status"] != "pending":
        return
    product = STATE["products"][c["product"]]
    customer = {"id": new_id("cust"), "object": "customer", "email": c.get("_email") or "buyer@example.org",
                "name": "Test Buyer", "country": "DE", "mode": "test",
                "created_at": iso(), "updated_at": iso()}
    tax = product.get("tax", 0)
    order = {"id": new_id("ord"), "object": "order", "customer": customer["id"], "product": c["product"],
             "amount": product["price"], "currency": product["currency"], "sub_total": product["price"] - tax,
             "tax_amount": tax, "amount_due": product["price"], "amount_paid": product["price"],
             "status": "paid", "type": "recurring" if product.get("billing_type") == "recurring" else "onetime",
             "transaction": new_id("tran"), "created_at": iso(), "updated_at": iso(), "mode": "test"}
    c.update(status="completed", order=order, customer=customer)
    obj = {"id": c["id"], "object": "checkout", "order": order,
           "product": {"id": c["product"], "object": "product", "price": product["price"],
                       "currency": product["currency"], "billing_type": product.get("billing_type", "onetime")},
           "customer": customer, "status": "completed", "metadata": c.get("metadata") or {}, "mode": "test"}
    if c.get("request_id"):
        obj["request_id"] = c["request_id"]
    if product.get("billing_type") == "recurring":
        now = time.time()
        obj["subscription"] = {"id": new_id("sub"), "object": "subscription", "status": "active",
                               "customer": customer["id"], "product": c["product"],
                               "current_period_start_date": iso(now),
                               "current_period_end_date": iso(now + 30 * 86400)}
    with LOCK:
        STATE["orders"][order["id"]] = order
    return send_event("checkout.completed", obj)


def public(c):
    # Creem leaves absent fields out rather than sending null.
    return {k: v for k, v in c.items() if not k.startswith("_") and v is not None}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, obj, ctype="application/json", headers=None):
        data = obj if isinstance(obj, bytes) else (obj.encode() if isinstance(obj, str) else json.dumps(obj).encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, reason, message):
        self.send(status, {"trace_id": secrets.token_hex(8), "status": status, "error": reason, "message": [message],
                           "timestamp": int(time.time() * 1000)})

    def api_guard(self):
        with LOCK:
            fault = STATE["fault"]
            if fault.get("mode") == "unavailable" and fault.get("count", 0) > 0:
                fault["count"] -= 1
                self.error(503, "Service Unavailable", "try again later")
                return False
        if not (self.headers.get("x-api-key") or "").startswith("creem_"):
            self.error(403, "Forbidden", "invalid API key")
            return False
        return True

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__fake/events":
            with LOCK:
                return self.send(200, STATE["events"])
        if url.path == "/v1/checkouts":
            if not self.api_guard():
                return
            cid = parse_qs(url.query).get("checkout_id", [""])[0]
            c = STATE["checkouts"].get(cid)
            if not c:
                return self.error(404, "Not Found", "checkout not found")
            return self.send(200, public(c))
        if url.path.startswith("/pay/"):
            c = STATE["checkouts"].get(url.path[5:])
            if not c:
                return self.send(404, "<h1>No such checkout</h1>", "text/html")
            if c["status"] != "pending":
                return self.send(410, "<h1>This checkout is no longer open</h1>", "text/html")
            p = STATE["products"][c["product"]]
            amount = f"{p['price'] / 100:.2f} {p['currency'].upper()}"
            page = f"""<!doctype html><html lang="en"><head><title>Fake Creem Checkout</title></head>
<body><main><h1>Pay {html.escape(amount)}</h1><p>{html.escape(c['product'])}</p>
<form method="post" action="/pay/{html.escape(c['id'])}"><button type="submit" id="pay">Pay</button></form>
</main></body></html>"""
            return self.send(200, page, "text/html; charset=utf-8")
        self.error(404, "Not Found", "no such route")

    def do_POST(self):
        path = urlsplit(self.path).path
        raw = self.body()
        if path == "/__fake/config":
            cfg = json.loads(raw or b"{}")
            with LOCK:
                for k in ("webhook_url", "webhook_secret"):
                    if k in cfg:
                        STATE[k] = cfg[k]
                STATE["products"].update(cfg.get("products", {}))
            return self.send(200, {"ok": True})
        if path == "/__fake/mode":
            with LOCK:
                STATE["fault"] = json.loads(raw or b"{}")
            return self.send(200, {"ok": True})
        if path.startswith("/__fake/refund/"):
            order = STATE["orders"].get(path.rsplit("/", 1)[1])
            if not order:
                return self.error(404, "Not Found", "order not found")
            amount = json.loads(raw or b"{}").get("amount", order["amount_paid"])
            refund = {"id": new_id("ref"), "object": "refund", "status": "succeeded", "refund_amount": amount,
                      "refund_currency": order["currency"], "reason": "requested_by_customer",
                      "transaction": {"id": order["transaction"], "object": "transaction", "order": order["id"]},
                      "order": order, "customer": order["customer"], "created_at": int(time.time() * 1000),
                      "mode": "test"}
            return self.send(200, send_event("refund.created", refund))
        if path.startswith("/__fake/resend/"):
            eid = path.rsplit("/", 1)[1]
            with LOCK:
                record = next((e for e in STATE["events"] if e["id"] == eid), None)
            if not record:
                return self.error(404, "Not Found", "event not found")
            deliver(record)
            return self.send(200, record)
        if path.startswith("/__fake/pay/") or path.startswith("/pay/"):
            c = STATE["checkouts"].get(path.rsplit("/", 1)[1])
            if not c:
                return self.error(404, "Not Found", "checkout not found")
            if c["status"] != "pending":
                return self.send(410, "<h1>This checkout is no longer open</h1>", "text/html")
            complete(c)
            if path.startswith("/pay/"):
                q = {"checkout_id": c["id"], "order_id": c["order"]["id"], "customer_id": c["customer"]["id"],
                     "product_id": c["product"]}
                if c.get("request_id"):
                    q["request_id"] = c["request_id"]
                q["signature"] = sign(STATE["webhook_secret"], urlencode(q).encode())
                sep = "&" if "?" in c["success_url"] else "?"
                return self.send(303, b"", "text/plain", {"Location": c["success_url"] + sep + urlencode(q)})
            return self.send(200, public(c))
        if path == "/v1/checkouts":
            if not self.api_guard():
                return
            try:
                body = json.loads(raw)
            except ValueError:
                return self.error(400, "Bad Request", "body must be JSON")
            product = body.get("product_id")
            if product not in STATE["products"]:
                return self.error(404, "Not Found", "product not found")
            cid = new_id("ch")
            base = f"http://{self.headers['Host']}"
            c = {"id": cid, "object": "checkout", "mode": "test", "status": "pending", "product": product,
                 "units": body.get("units", 1), "request_id": body.get("request_id"),
                 "success_url": body.get("success_url") or f"{base}/done", "metadata": body.get("metadata") or {},
                 "checkout_url": f"{base}/pay/{cid}", "_email": (body.get("customer") or {}).get("email")}
            with LOCK:
                STATE["checkouts"][cid] = c
            return self.send(200, public(c))
        self.error(404, "Not Found", "no such route")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
