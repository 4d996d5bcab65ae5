// Paying for it in Debian's Chromium, driven by playwright-core (issue 18; P-BILL-2, P-BILL-3).
//
//   node tests/web/billing.mjs <base-url> <screenshots-dir> <email> <password> <stripe-fake-url>
//
// The account exists and the server sells through the local Stripe (tests/fakes/billing/
// stripe_fake.py), configured by crates/cli/tests/web_e2e.rs. A visitor reads the public price
// list; the signed-in buyer finds the Billing page, presses Buy while Stripe is down and is told
// so, presses again, pays on the fake's hosted page, comes back to the credits on the balance and
// the payment with its receipt among the invoices; the create page shows the plan's limits beside
// the cost. Exits non-zero on failure.

import { launch } from './support.mjs';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const [base, shots, email, password, stripe] = process.argv.slice(2);
if (!base || !shots || !email || !password || !stripe) {
  console.error('usage: node billing.mjs <base-url> <screenshots-dir> <email> <password> <stripe-fake-url>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const step = (name) => console.log(`billing: ${name}`);

async function axeCheck(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.equal(bad.length, 0, `${name}: serious or critical accessibility violations: ${bad.map((v) => v.id).join(', ')}`);
}

const browser = await launch();
let failed = false;
try {
  const errors = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));

  step('the public price list');
  const pricing = await page.goto(base + '/pricing');
  assert.equal(pricing.status(), 200);
  const csp = pricing.headers()['content-security-policy'] || '';
  assert.match(csp, /default-src 'self'/);
  assert.doesNotMatch(csp, /script-src[^;]*unsafe-inline/);
  assert.equal(pricing.headers()['x-frame-options'], 'DENY');
  assert.equal(await page.locator('h1').innerText(), 'Plans and pricing');
  for (const plan of ['Free', 'Pro (monthly)', 'Lifetime']) {
    await page.getByRole('heading', { name: plan, exact: true }).waitFor();
  }
  assert.match(await page.locator('[data-plan="free"]').innerText(), /creations? at once/);
  await page.locator('[data-pack="pack-500"]').getByRole('link', { name: 'Sign up to buy' }).waitFor();
  await axeCheck(page, 'pricing');
  await page.screenshot({ path: join(shots, 'pricing.png'), fullPage: true });

  step('sign in and open Billing');
  await page.goto(base + '/signin?next=/billing');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/billing$/);
  await page.locator('#billing[aria-busy="false"]').waitFor();
  assert.equal(await page.locator('#plan-name').innerText(), 'Free');
  // The sign-up grant (and perhaps the Free plan's monthly one) came first.
  const credits = (text) => Number(/^(-?\d+) credits?$/.exec(text)[1]);
  const before = credits(await page.locator('#balance').innerText());
  await page.locator('#invoices-empty').waitFor({ state: 'visible' });
  await axeCheck(page, 'billing');

  step('Stripe is down: the button says so');
  await fetch(stripe + '/__fake/mode', { method: 'POST', body: JSON.stringify({ mode: 'unavailable', count: 1 }) });
  const buy = page.locator('button[data-buy="pack-500"]');
  assert.equal(await buy.innerText(), 'Buy 500 credits for 9.00 USD');
  await buy.click();
  await page.getByRole('button', { name: 'Payments are unavailable right now: try again later' }).waitFor();
  assert.match(await page.locator('#form-error').innerText(), /cannot be reached/);
  assert.equal(page.url(), base + '/billing');

  step('buy through the hosted page');
  await buy.click();
  await page.waitForURL((u) => u.href.startsWith(stripe + '/pay/'));
  await page.getByRole('heading', { name: 'Pay 9.00 USD' }).waitFor();
  await page.locator('#pay').click();
  await page.waitForURL((u) => u.href.startsWith(base + '/billing?checkout='));
  await page.locator('#billing[aria-busy="false"]').waitFor();
  assert.equal(credits(await page.locator('#balance').innerText()), before + 500);
  assert.match(await page.locator('#billing-status').innerText(), /Thank you/);
  const row = page.locator('#payments tbody tr');
  assert.equal(await row.count(), 1);
  const cells = await row.locator('td').allInnerTexts();
  assert.equal(cells[2], '9.00 USD');
  assert.equal(cells[3], '0.00 USD');
  assert.equal(cells[4], '500');
  const receipt = await row.getByRole('link', { name: 'Receipt' }).getAttribute('href');
  assert.ok(receipt.startsWith(stripe + '/receipts/'), receipt);
  assert.match(await page.locator('#ledger tbody').innerText(), /\+500/);
  await axeCheck(page, 'billing after the purchase');
  await page.screenshot({ path: join(shots, 'billing.png'), fullPage: true });
  await page.goto(receipt);
  await page.getByRole('heading', { name: 'Receipt for 9.00 USD' }).waitFor();

  step("the plan's limits beside the cost");
  await page.goto(base + '/create');
  await page.waitForFunction(() => document.querySelector('#estimate-plan').textContent.startsWith('Free: '));
  assert.match(await page.locator('#estimate-plan').innerText(), /up to \d+p · videos up to \d+ s/);

  assert.deepEqual(errors, [], 'no script errors');
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
