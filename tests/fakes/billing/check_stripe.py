"""Proves stripe_fake.py speaks Stripe's wire format: the official `stripe` client (PyPI) is
pointed at the fake and makes prices, checkout sessions, a portal session and a refund, and
Stripe's own `stripe.Webhook.construct_event` verifies every webhook the fake signed (and refuses
them under another secret). Usage: check_stripe.py <fake base URL>. Exit status 0 when faithful.
"""

import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import stripe

SECRET = "whsec_check_0123456789"
received = []


class Sink(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.append((body, self.headers["Stripe-Signature"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))


def main():
    base = sys.argv[1]
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    post(f"{base}/__fake/config", {"webhook_url": f"http://127.0.0.1:{sink.server_address[1]}/hook",
                                   "webhook_secret": SECRET})

    client = stripe.StripeClient("sk_test_check", base_addresses={"api": base},
                                 max_network_retries=0)
    pack = client.v1.prices.create(params={"unit_amount": 900, "currency": "usd",
                                           "product_data": {"name": "pack"}})
    assert pack.id.startswith("price_"), pack
    monthly = client.v1.prices.create(params={"unit_amount": 1500, "currency": "usd",
                                              "recurring": {"interval": "month"},
                                              "product_data": {"name": "pro"}})
    assert monthly.recurring.interval == "month", monthly

    s = client.v1.checkout.sessions.create(params={
        "mode": "payment", "line_items": [{"price": pack.id, "quantity": 1}],
        "success_url": "http://example.test/ok", "cancel_url": "http://example.test/no",
        "client_reference_id": "chk_1", "metadata": {"checkout_id": "chk_1"},
    })
    assert s.object == "checkout.session" and s.status == "open" and s.url, s
    assert s.amount_total == 900 and s.metadata["checkout_id"] == "chk_1", s
    got = client.v1.checkout.sessions.retrieve(s.id)
    assert got.id == s.id and got.client_reference_id == "chk_1"

    # Stripe's own errors: a price that does not exist, a recurring price in payment mode.
    for params, code in [
        ({"mode": "payment", "line_items": [{"price": "price_missing", "quantity": 1}],
          "success_url": "http://e.test"}, "resource_missing"),
    ]:
        try:
            client.v1.checkout.sessions.create(params=params)
            raise AssertionError("an unknown price was accepted")
        except stripe.InvalidRequestError as e:
            assert e.code == code, e
    try:
        client.v1.checkout.sessions.create(params={
            "mode": "payment", "line_items": [{"price": monthly.id, "quantity": 1}],
            "success_url": "http://e.test"})
        raise AssertionError("a recurring price was accepted in payment mode")
    except stripe.InvalidRequestError:
        pass
    try:
        stripe.StripeClient("", base_addresses={"api": base}).v1.prices.create(
            params={"unit_amount": 1, "currency": "usd"})
        raise AssertionError("no key was accepted")
    except (stripe.AuthenticationError, stripe.InvalidRequestError):
        pass

    paid = post(f"{base}/__fake/pay/{s.id}", {})
    assert paid["payment_status"] == "paid" and paid["payment_intent"], paid

    sub = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": monthly.id, "quantity": 1}],
        "success_url": "http://example.test/ok", "client_reference_id": "chk_2",
        "subscription_data": {"metadata": {"checkout_id": "chk_2"}},
    })
    post(f"{base}/__fake/pay/{sub.id}", {})
    sub = client.v1.checkout.sessions.retrieve(sub.id)
    assert sub.subscription and sub.customer, sub

    portal = client.v1.billing_portal.sessions.create(params={
        "customer": sub.customer, "return_url": "http://example.test/billing"})
    assert portal.url.startswith(base), portal

    refund = client.v1.refunds.create(params={"payment_intent": paid["payment_intent"],
                                              "amount": 400})
    assert refund.status == "succeeded" and refund.amount == 400, refund
    client.v1.subscriptions.cancel(sub.subscription)

    kinds = []
    for body, sig in received:
        event = stripe.Webhook.construct_event(body.decode(), sig, SECRET)
        kinds.append(event.type)
        try:
            stripe.Webhook.construct_event(body.decode(), sig, "whsec_other")
            raise AssertionError("a signature verified under another secret")
        except stripe.SignatureVerificationError:
            pass
        if event.type == "invoice.paid":
            assert event.data.object.subscription_details.metadata["checkout_id"] == "chk_2"
        if event.type == "charge.refunded":
            assert event.data.object.amount_refunded == 400
    expected = ["checkout.session.completed", "charge.succeeded", "invoice.paid",
                "checkout.session.completed",
                "charge.refunded", "customer.subscription.deleted"]
    assert sorted(kinds) == sorted(expected), kinds
    print("OK", kinds)


if __name__ == "__main__":
    main()
