"""A local Stripe for tests: the parts of Stripe's REST API and webhooks Reelsmith uses, in
Stripe's wire format, with a hosted checkout page.

API (form-encoded bodies with bracket notation, `Authorization: Bearer sk_test_...`):
  POST /v1/prices                      create a price (unit_amount, currency, recurring[interval])
  POST /v1/checkout/sessions           mode payment|subscription, line_items[0][price], ...
  GET  /v1/checkout/sessions/{id}
  POST /v1/billing_portal/sessions     customer, return_url
  DELETE /v1/subscriptions/{id}        cancel now (sends customer.subscription.deleted)
  POST /v1/refunds                     payment_intent, amount (sends charge.refunded)
Errors use Stripe's shape: {"error": {"type", "code", "message", "param"}}.

Hosted pages: GET /pay/{session} shows the order and a card form; POST /pay/{session} pays it:
the session completes, webhooks are sent signed like Stripe's (`Stripe-Signature:
t=<ts>,v1=<hmac-sha256 of "ts.body">`), and the browser goes to success_url.

Control: POST /__fake/config {"webhook_url", "webhook_secret", "prices": {id: {...}}},
GET /__fake/events (every event sent, with the status the receiver answered),
POST /__fake/mode {"mode": "unavailable", "count": n} (the next n API calls answer 503),
POST /__fake/pay/{session} (pay without a browser).

Prints "READY <port>" once listening on 127.0.0.1.
"""

import argparse
import hashlib
import hmac
import html
import json
import secrets
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

LOCK = threading.Lock()
STATE = {
    "webhook_url": None,
    "webhook_secret": "whsec_fake",
    "prices": {},
    "sessions": {},
    "subscriptions": {},
    "charges": {},  # payment_intent -> charge
    "events": [],
    "fault": {"mode": "ok", "count": 0},
}


def new_id(prefix):
    return f"{prefix}_test_{secrets.token_hex(12)}"


def parse_form(raw):
    """Stripe's bracket notation into nested dicts/lists: a[b][0][c]=v."""
    out = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        cur = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if last:
                cur[part] = value
            else:
                if part not in cur:
                    cur[part] = {}
                cur = cur[part]
    return listify(out)


def listify(v):
    if isinstance(v, dict):
        if v and all(k.isdigit() for k in v):
            return [listify(v[k]) for k in sorted(v, key=int)]
        return {k: listify(x) for k, x in v.items()}
    return v


def sign(secret, payload):
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def send_event(kind, obj):
    event = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }
    payload = json.dumps(event).encode()
    record = {"id": event["id"], "type": kind, "status": None, "payload": payload.decode(),
              "signature": sign(STATE["webhook_secret"], payload)}
    url = STATE["webhook_url"]
    if url:
        req = urllib.request.Request(url, data=payload, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": record["signature"],
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        })
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                record["status"] = r.status
        except urllib.error.HTTPError as e:
            record["status"] = e.code
        except Exception as e:  # the receiver is down: Stripe would retry later
            record["status"] = f"error: {e}"
    with LOCK:
        STATE["events"].append(record)
    return record


def complete_session(s):
    """What paying a session does at Stripe: objects made, webhooks sent."""
    if s["status"] != "open":
        return
    now = int(time.time())
    customer = s.get("customer") or new_id("cus")
    s.update(status="complete", payment_status="paid", customer=customer)
    price = STATE["prices"][s["_price"]]
    if s["mode"] == "payment":
        pi = new_id("pi")
        charge = {"id": new_id("ch"), "object": "charge", "amount": s["amount_total"],
                  "amount_refunded": 0, "currency": s["currency"], "payment_intent": pi,
                  "refunded": False, "customer": customer,
                  "receipt_url": f"{s['_base']}/receipts/{pi}"}
        STATE["charges"][pi] = charge
        s["payment_intent"] = pi
        send_event("checkout.session.completed", public(s))
        # The charge carries the receipt; Stripe sends it on its own.
        send_event("charge.succeeded", charge)
        return
    sub_id = new_id("sub")
    interval = (price.get("recurring") or {}).get("interval", "month")
    end = now + (365 if interval == "year" else 30) * 86400
    sub = {"id": sub_id, "object": "subscription", "status": "active", "customer": customer,
           "cancel_at_period_end": False, "current_period_start": now, "current_period_end": end,
           "metadata": s.get("_sub_metadata", {}),
           "items": {"object": "list", "data": [{"id": new_id("si"), "object": "subscription_item",
                                                  "price": public_price(s["_price"]),
                                                  "current_period_start": now,
                                                  "current_period_end": end}]}}
    STATE["subscriptions"][sub_id] = sub
    s["subscription"] = sub_id
    pi = new_id("pi")
    invoice = {"id": new_id("in"), "object": "invoice", "subscription": sub_id, "customer": customer,
               "amount_paid": s["amount_total"], "amount_due": s["amount_total"],
               "currency": s["currency"], "tax": 0, "status": "paid", "payment_intent": pi,
               "hosted_invoice_url": f"{s['_base']}/invoices/{pi}",
               "subscription_details": {"metadata": sub["metadata"]},
               "lines": {"object": "list", "data": [{"object": "line_item",
                                                      "amount": s["amount_total"],
                                                      "price": public_price(s["_price"]),
                                                      "period": {"start": now, "end": end}}]}}
    STATE["charges"][pi] = {"id": new_id("ch"), "object": "charge", "amount": s["amount_total"],
                            "amount_refunded": 0, "currency": s["currency"], "payment_intent": pi,
                            "invoice": invoice["id"], "refunded": False, "customer": customer}
    # Stripe does not order these: the invoice may well arrive first.
    send_event("invoice.paid", invoice)
    send_event("checkout.session.completed", public(s))


def public(obj):
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def public_price(pid):
    p = STATE["prices"][pid]
    return {"id": pid, "object": "price", **p}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def base(self):
        return f"http://{self.headers.get('Host') or '127.0.0.1'}"

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, obj, ctype="application/json", headers=None):
        data = obj if isinstance(obj, bytes) else (
            obj.encode() if isinstance(obj, str) else json.dumps(obj).encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_" + secrets.token_hex(7))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, code=None, param=None, kind="invalid_request_error"):
        err = {"type": kind, "message": message}
        if code:
            err["code"] = code
        if param:
            err["param"] = param
        self.send(status, {"error": err})

    def api_guard(self):
        """Authorization and faults for /v1 calls; False when answered already."""
        with LOCK:
            f = STATE["fault"]
            if f["mode"] == "unavailable" and f["count"] > 0:
                f["count"] -= 1
                self.error(503, "Stripe is temporarily unavailable.", kind="api_error")
                return False
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_"):
            self.error(401, "You did not provide an API key. You need to provide your API key "
                            "in the Authorization header, using Bearer auth.")
            return False
        return True

    # ---- routes --------------------------------------------------------------------------
    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/__fake/events":
            with LOCK:
                return self.send(200, STATE["events"])
        if path.startswith("/v1/checkout/sessions/"):
            if not self.api_guard():
                return
            s = STATE["sessions"].get(path.rsplit("/", 1)[1])
            if not s:
                return self.error(404, "No such checkout.session", "resource_missing", "id")
            return self.send(200, public(s))
        if path.startswith("/pay/"):
            s = STATE["sessions"].get(path[5:])
            if not s:
                return self.send(404, "<h1>No such checkout</h1>", "text/html")
            if s["status"] != "open":
                return self.send(410, "<h1>This checkout is no longer open</h1>", "text/html")
            amount = f"{s['amount_total'] / 100:.2f} {s['currency'].upper()}"
            page = f"""<!doctype html><html lang="en"><head><title>Fake Stripe Checkout</title></head>
<body><main><h1>Pay {html.escape(amount)}</h1>
<p>{html.escape(s['_price'])} ({html.escape(s['mode'])})</p>
<form method="post" action="/pay/{html.escape(s['id'])}">
<label>Card number <input name="card" value="4242 4242 4242 4242" autocomplete="off"></label>
<button type="submit" id="pay">Pay</button></form>
<p><a href="{html.escape(s['cancel_url'])}">Cancel</a></p></main></body></html>"""
            return self.send(200, page, "text/html; charset=utf-8")
        if path.startswith("/receipts/"):
            charge = STATE["charges"].get(path[len("/receipts/"):])
            if not charge:
                return self.send(404, "<h1>No such receipt</h1>", "text/html")
            page = f"<!doctype html><title>Receipt</title><h1>Receipt for {charge['amount'] / 100:.2f} {charge['currency'].upper()}</h1>"
            return self.send(200, page, "text/html; charset=utf-8")
        if path.startswith("/portal/"):
            return self.send(200, "<h1>Fake Customer Portal</h1>", "text/html")
        self.error(404, "Unrecognized request URL.")

    def do_DELETE(self):
        path = urlsplit(self.path).path
        if path.startswith("/v1/subscriptions/"):
            if not self.api_guard():
                return
            sub = STATE["subscriptions"].get(path.rsplit("/", 1)[1])
            if not sub:
                return self.error(404, "No such subscription", "resource_missing", "id")
            sub["status"] = "canceled"
            send_event("customer.subscription.deleted", sub)
            return self.send(200, sub)
        self.error(404, "Unrecognized request URL.")

    def do_POST(self):
        path = urlsplit(self.path).path
        raw = self.body()
        if path == "/__fake/config":
            cfg = json.loads(raw or b"{}")
            with LOCK:
                for k in ("webhook_url", "webhook_secret"):
                    if k in cfg:
                        STATE[k] = cfg[k]
                STATE["prices"].update(cfg.get("prices", {}))
            return self.send(200, {"ok": True})
        if path == "/__fake/mode":
            with LOCK:
                STATE["fault"] = json.loads(raw or b"{}")
            return self.send(200, {"ok": True})
        if path.startswith("/__fake/pay/") or path.startswith("/pay/"):
            sid = path.rsplit("/", 1)[1]
            s = STATE["sessions"].get(sid)
            if not s:
                return self.error(404, "No such checkout.session", "resource_missing")
            if s["status"] != "open":
                return self.send(410, "<h1>This checkout is no longer open</h1>", "text/html")
            complete_session(s)
            if path.startswith("/pay/"):
                return self.send(303, b"", "text/plain", {"Location": s["success_url"]})
            return self.send(200, public(s))
        if not path.startswith("/v1/"):
            return self.error(404, "Unrecognized request URL.")
        if not self.api_guard():
            return
        if "json" in (self.headers.get("Content-Type") or ""):
            return self.error(400, "Invalid request: Stripe takes form-encoded bodies.")
        form = parse_form(raw.decode())
        if path == "/v1/prices":
            pid = new_id("price")
            price = {"unit_amount": int(form.get("unit_amount", 0)),
                     "currency": form.get("currency", "usd"), "type": "one_time",
                     "recurring": None, "active": True, "livemode": False,
                     "product": form.get("product") or new_id("prod")}
            if "recurring" in form:
                price["type"] = "recurring"
                price["recurring"] = {"interval": form["recurring"].get("interval", "month"),
                                      "interval_count": 1}
            STATE["prices"][pid] = price
            return self.send(200, public_price(pid))
        if path == "/v1/checkout/sessions":
            return self.create_session(form)
        if path == "/v1/billing_portal/sessions":
            if not form.get("customer"):
                return self.error(400, "Missing required param: customer.", "parameter_missing",
                                  "customer")
            sid = new_id("bps")
            return self.send(200, {"id": sid, "object": "billing_portal.session",
                                   "customer": form["customer"],
                                   "return_url": form.get("return_url"),
                                   "url": f"{self.base()}/portal/{sid}", "livemode": False,
                                   "created": int(time.time())})
        if path == "/v1/refunds":
            pi = form.get("payment_intent")
            charge = STATE["charges"].get(pi)
            if not charge:
                return self.error(404, f"No such payment_intent: '{pi}'", "resource_missing",
                                  "payment_intent")
            amount = int(form.get("amount", charge["amount"] - charge["amount_refunded"]))
            if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
                return self.error(400, "Refund amount is greater than unrefunded amount.",
                                  "amount_too_large", "amount")
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            refund = {"id": new_id("re"), "object": "refund", "amount": amount,
                      "charge": charge["id"], "payment_intent": pi, "status": "succeeded",
                      "currency": charge["currency"]}
            send_event("charge.refunded", charge)
            return self.send(200, refund)
        self.error(404, "Unrecognized request URL.")

    def create_session(self, form):
        mode = form.get("mode")
        if mode not in ("payment", "subscription", "setup"):
            return self.error(400, "Missing required param: mode.", "parameter_missing", "mode")
        items = form.get("line_items") or []
        if not items or not items[0].get("price"):
            return self.error(400, "Missing required param: line_items.", "parameter_missing",
                              "line_items")
        pid = items[0]["price"]
        price = STATE["prices"].get(pid)
        if not price:
            return self.error(400, f"No such price: '{pid}'", "resource_missing",
                              "line_items[0][price]")
        recurring = price.get("recurring") is not None
        if (mode == "subscription") != recurring:
            return self.error(400, "You must provide at least one recurring price in "
                                   "`subscription` mode." if mode == "subscription" else
                              "You specified `payment` mode but passed a recurring price.",
                              param="line_items")
        if not form.get("success_url"):
            return self.error(400, "Missing required param: success_url.", "parameter_missing",
                              "success_url")
        now = int(time.time())
        expires = int(form.get("expires_at") or now + 86400)
        if expires < now + 1800 or expires > now + 86400:
            return self.error(400, "The `expires_at` timestamp must be between 30 minutes and "
                                   "24 hours from Checkout Session creation.", param="expires_at")
        sid = "cs_test_" + secrets.token_hex(24)
        qty = int(items[0].get("quantity", 1))
        s = {"id": sid, "object": "checkout.session", "mode": mode, "status": "open",
             "payment_status": "unpaid", "url": f"{self.base()}/pay/{sid}",
             "amount_total": price["unit_amount"] * qty, "amount_subtotal": price["unit_amount"] * qty,
             "currency": price["currency"], "client_reference_id": form.get("client_reference_id"),
             "customer": form.get("customer"), "customer_email": form.get("customer_email"),
             "metadata": form.get("metadata", {}), "success_url": form["success_url"],
             "cancel_url": form.get("cancel_url"), "expires_at": expires, "livemode": False,
             "payment_intent": None, "subscription": None, "created": now,
             "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
             "_price": pid, "_base": self.base(),
             "_sub_metadata": (form.get("subscription_data") or {}).get("metadata", {})}
        STATE["sessions"][sid] = s
        return self.send(200, public(s))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", help="unused; accepted like the provider fakes")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
