// The admin console in Debian's Chromium, driven by playwright-core (issue 20; P-SEC-4, P-SEC-5).
//
//   node tests/web/admin.mjs <base-url> <screenshots-dir> <password> <admin-email> <moderator-email> <user-email>
//
// The three accounts exist; the admin and the moderator were promoted with `reelsmith admin
// promote` (crates/cli/tests/web_e2e.rs). A user gets the "no page here" page on every console
// route; the admin is sent to enrol an authenticator, is refused a wrong code, then enters the
// console, suspends and restores the user and finds both in the audit log; the moderator enrols,
// sees the console's home with the moderation queue but gets 404 on the user list, and in a
// new session must pass a check (a recovery code) before the console opens again.

import { launch } from './support.mjs';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const [base, shots, password, adminEmail, modEmail, userEmail] = process.argv.slice(2);
if (!base || !shots || !password || !adminEmail || !modEmail || !userEmail) {
  console.error('usage: node admin.mjs <base-url> <screenshots-dir> <password> <admin> <moderator> <user>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const step = (name) => console.log(`admin: ${name}`);

async function axeCheck(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.equal(bad.length, 0, `${name}: serious or critical accessibility violations: ${bad.map((v) => v.id).join(', ')}`);
}

/** RFC 4648 base32 to bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (HMAC-SHA-1, 30 s, 6 digits) for a unix time in seconds. */
function totp(secret, seconds = Date.now() / 1000) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

const ROUTES = ['/admin', '/admin/verify', '/admin/users', '/admin/jobs', '/admin/providers', '/admin/privacy', '/admin/audit'];

const browser = await launch();
const errors = [];

async function signedIn(email) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/signin');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/create$/);
  return { context, page };
}

/** Enrols an authenticator on /account/security: the secret and the recovery codes shown. */
async function enrol(page) {
  await page.getByRole('button', { name: 'Set up an authenticator' }).click();
  // The secret and the QR code are filled in from the enrolment answer: wait for both.
  await page.waitForFunction(() => document.querySelector('#totp-qr')?.getAttribute('src')
    && document.querySelector('#totp-secret')?.textContent.trim());
  const secretText = await page.locator('#totp-secret').innerText();
  const qr = await page.locator('#totp-qr').getAttribute('src');
  assert.match(qr, /^data:image\/svg\+xml;base64,/);
  const loaded = await page.locator('#totp-qr').evaluate((img) => img.complete && img.naturalWidth > 0);
  assert.ok(loaded, 'the QR code image renders');
  const secret = base32(secretText);
  return { secret, confirm: async () => {
    await page.getByLabel('The code the app shows now').fill(totp(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.locator('#recovery').waitFor({ state: 'visible' });
    const codes = await page.locator('#recovery-codes li').allInnerTexts();
    assert.equal(codes.length, 10);
    return codes;
  } };
}

let failed = false;
try {
  step('a user gets the missing page on every console route');
  {
    const { context, page } = await signedIn(userEmail);
    for (const route of ROUTES) {
      const response = await page.goto(base + route);
      assert.equal(response.status(), 404, route);
      await page.getByRole('heading', { name: 'There is no page here' }).waitFor();
    }
    await context.close();
  }

  step('the admin is refused before TOTP: sent to enrol');
  const { context: adminContext, page } = await signedIn(adminEmail);
  let response = await page.goto(base + '/admin/users');
  assert.match(page.url(), /\/account\/security\?staff=1$/);
  await page.locator('#staff-note').waitFor();
  const adminApi = await page.evaluate(async () => (await fetch('/api/v1/admin/users')).json());
  assert.equal(adminApi.code, 'staff.totp_required');
  await axeCheck(page, 'security page');
  const { secret, confirm } = await enrol(page);
  step('a wrong code is refused');
  await page.getByLabel('The code the app shows now').fill(totp(secret) === '000000' ? '111111' : '000000');
  await page.getByRole('button', { name: 'Turn on' }).click();
  const confirmError = page.locator('#totp-confirm .error');
  await confirmError.waitFor({ state: 'visible' });
  assert.match(await confirmError.innerText(), /not the one the authenticator shows/);
  await page.screenshot({ path: join(shots, 'admin-enrol.png') });
  const adminCodes = await confirm();
  assert.match(adminCodes[0], /^[a-z2-9]{5}-[a-z2-9]{5}$/);
  await axeCheck(page, 'recovery codes');

  step('allowed after TOTP: the user list, a suspension and the audit log');
  response = await page.goto(base + '/admin/users');
  assert.equal(response.status(), 200);
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  await axeCheck(page, 'users');
  await page.getByLabel('Search by email, username or name').fill(userEmail);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: userEmail }).click();
  await page.getByRole('heading', { name: userEmail }).waitFor();
  assert.doesNotMatch(await page.content(), /argon2/);
  await axeCheck(page, 'user');
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Suspend account' }).click();
  await page.getByRole('button', { name: 'Restore account' }).waitFor();
  assert.equal(await page.locator('#user-state').innerText(), 'suspended');
  await page.screenshot({ path: join(shots, 'admin-user.png') });
  await page.getByRole('button', { name: 'Restore account' }).click();
  await page.getByRole('button', { name: 'Suspend account' }).waitFor();
  const creditsBefore = Number(await page.locator('#user-credits').innerText());
  await page.getByLabel('Credits', { exact: true }).fill('25');
  await page.getByLabel('Reason').fill('goodwill after an outage');
  await page.getByRole('button', { name: 'Add credits' }).click();
  await page.waitForFunction((want) => document.querySelector('#user-credits')?.textContent.trim() === String(want), creditsBefore + 25);
  await page.goto(base + '/admin/audit?kind=admin.');
  const audit = await page.locator('#audit tbody').innerText();
  for (const kind of ['admin.user_suspended', 'admin.user_restored', 'admin.credits_added']) {
    assert.ok(audit.includes(kind), `${kind} in the audit log`);
  }
  assert.ok(audit.includes('goodwill after an outage'));
  await axeCheck(page, 'audit');
  for (const route of ['/admin/jobs', '/admin/providers', '/admin/privacy', '/admin']) {
    response = await page.goto(base + route);
    assert.equal(response.status(), 200, route);
    await axeCheck(page, route);
  }
  await page.screenshot({ path: join(shots, 'admin-home.png') });
  await adminContext.close();

  step('the moderator: enrolment, the console home with the queue, 404 on the user list');
  const { context: modContext, page: mod } = await signedIn(modEmail);
  await mod.goto(base + '/admin');
  assert.match(mod.url(), /\/account\/security\?staff=1$/);
  const modEnrolment = await enrol(mod);
  const modCodes = await modEnrolment.confirm();
  await mod.goto(base + '/admin');
  await mod.getByRole('link', { name: 'Moderation queue' }).first().waitFor();
  assert.equal(await mod.getByRole('link', { name: 'Users' }).count(), 0);
  response = await mod.goto(base + '/admin/users');
  assert.equal(response.status(), 404);
  await mod.getByRole('heading', { name: 'There is no page here' }).waitFor();
  await modContext.close();

  step('a new moderator session must pass a check first: a recovery code, once');
  const { context: again, page: mod2 } = await signedIn(modEmail);
  await mod2.goto(base + '/admin');
  assert.match(mod2.url(), /\/admin\/verify\?next=\/admin$/);
  await axeCheck(mod2, 'verify');
  await mod2.getByLabel('Recovery code (optional)').fill(modCodes[0]);
  await mod2.getByRole('button', { name: 'Confirm' }).click();
  await mod2.waitForURL(/\/admin$/);
  await mod2.getByRole('heading', { name: 'Console' }).waitFor();
  await again.close();

  assert.deepEqual(errors, [], 'no script errors');
  step('done');
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
