// Proves creem_fake.py speaks Creem's wire format: Creem's official client (npm `creem`) is
// pointed at the fake and creates and retrieves checkouts, and its own webhook verifier
// (`constructWebhookEvent`) accepts every webhook the fake signed, under both of Creem's
// signings, and refuses them under another secret or with the body changed.
// Usage: node check_creem.mjs <fake base URL>. Exit status 0 when faithful.

import http from 'node:http';
import assert from 'node:assert/strict';
import { Creem } from 'creem';
import { constructWebhookEvent } from 'creem/webhooks.js';

const base = process.argv[2];
const SECRET = 'whsec_Y2hlY2stY3JlZW0tZmFrZS1zZWNyZXQ=';
const received = [];
const sink = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
    res.writeHead(200).end();
  });
});
await new Promise((ok) => sink.listen(0, '127.0.0.1', ok));
const post = (path, body) => fetch(base + path, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json());

try {
  await post('/__fake/config', {
    webhook_url: `http://127.0.0.1:${sink.address().port}/hook`, webhook_secret: SECRET,
    products: { prod_check: { price: 1500, currency: 'USD', tax: 100 } },
  });
  const creem = new Creem({ serverURL: base, apiKey: 'creem_test_check' });
  const created = await creem.checkouts.create({
    productId: 'prod_check', requestId: 'req_check_1', successUrl: 'https://example.org/ok',
    metadata: { checkout_id: 'req_check_1' }, customer: { email: 'check@example.org' },
  });
  assert.equal(created.status, 'pending');
  assert.equal(created.requestId, 'req_check_1');
  assert.ok(created.checkoutUrl.startsWith(base + '/pay/'), created.checkoutUrl);
  const again = await creem.checkouts.retrieve(created.id);
  assert.equal(again.id, created.id);

  const paid = await post('/__fake/pay/' + created.id, {});
  const done = await creem.checkouts.retrieve(created.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.order.amountPaid, 1500);
  assert.equal(done.order.taxAmount, 100);
  await post('/__fake/refund/' + paid.order.id, { amount: 1500 });

  assert.equal(received.length, 2);
  const types = [];
  for (const { body, headers } of received) {
    const event = await constructWebhookEvent(body, headers, SECRET);
    types.push(event.type);
    assert.ok(event.id && event.data);
    // The older signing alone (endpoints that send only `creem-signature`).
    const legacy = { 'creem-signature': headers['creem-signature'] };
    assert.equal((await constructWebhookEvent(body, legacy, SECRET)).type, event.type);
    await assert.rejects(constructWebhookEvent(body, headers, 'whsec_b3RoZXItc2VjcmV0'));
    await assert.rejects(constructWebhookEvent(body.replace('1500', '1501'), headers, SECRET));
    await assert.rejects(constructWebhookEvent(body.replace('1500', '1501'), legacy, SECRET));
  }
  assert.deepEqual(types, ['checkout.completed', 'refund.created']);
  const [first] = received;
  const completed = JSON.parse(first.body).object;
  assert.equal(completed.request_id, 'req_check_1');
  assert.equal(completed.order.amount_paid, 1500);

  // A bad key is refused the way Creem refuses it.
  const stranger = new Creem({ serverURL: base, apiKey: 'not-a-key' });
  await assert.rejects(stranger.checkouts.create({ productId: 'prod_check' }));
  console.log('creem fake: faithful');
} finally {
  sink.close();
}
