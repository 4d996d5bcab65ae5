// Sign-in with an identity provider (P-ACC-4) in Debian's Chromium, driven by playwright-core,
// against a real OpenID provider (npm oidc-provider, started by crates/cli/tests/web_e2e.rs):
//
//   node tests/web/oidc.mjs <base-url> <screenshots-dir> <issuer>
//
// A newcomer presses "Continue with Test ID" on the sign-in page, signs in at the provider's own
// login page, chooses a username with the age statement and policy acceptance, lands in the
// studio signed in, and finds the provider on the Account page; signing out and in again goes
// straight through. A provider that has not verified the address is refused on the sign-in page
// with its reason, and no account is made. Exits non-zero on failure.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [base, shots, issuer] = process.argv.slice(2);
if (!base || !shots || !issuer) {
  console.error('usage: node oidc.mjs <base-url> <screenshots-dir> <issuer>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const step = (name) => console.log(`oidc: ${name}`);
const stamp = Date.now().toString(36);

async function axeCheck(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of result.violations) {
    console.log(`oidc: axe ${name}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  }
  assert.equal(bad.length, 0, `${name}: serious or critical accessibility violations: ${bad.map((v) => v.id).join(', ')}`);
}

/** At the provider's own login page: any login and password; the login names the person. */
async function atProvider(page, login) {
  await page.waitForURL((u) => u.href.startsWith(issuer), { timeout: 15000 });
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password will do');
  await page.locator('button[type=submit]').click();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  step('the sign-in page offers the provider');
  await page.goto(`${base}/signin`);
  const button = page.getByRole('link', { name: 'Continue with Test ID' });
  await button.waitFor();
  await axeCheck(page, 'sign-in with a provider');

  step('first sign-in: the provider, then the follow-up page');
  await button.click();
  const login = `web${stamp}`;
  await atProvider(page, login);
  await page.waitForURL(`${base}/auth/oidc/finish`, { timeout: 15000 });
  await page.getByText(`${login}@example.org`).first().waitFor();
  await axeCheck(page, 'follow-up page');
  await page.screenshot({ path: join(shots, 'oidc-finish.png') });
  // The age statement and the policies are asked as at sign-up: without them nothing is made.
  await page.getByLabel('Username').fill(`web_${stamp}`);
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.locator('#oidc-signup-error').waitFor({ state: 'visible' });
  assert.equal(new URL(page.url()).pathname, '/auth/oidc/finish');
  await page.getByLabel(/years old/).check();
  await page.getByLabel(/I accept the/).check();
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.waitForURL((u) => u.pathname === '/create', { timeout: 15000 });
  await page.getByRole('link', { name: 'Account' }).waitFor();

  step('the Account page lists the provider');
  await page.goto(`${base}/account`);
  const section = page.locator('#identities');
  await section.getByText(`${login}@example.org`).waitFor();
  await section.getByRole('button', { name: 'Unlink Test ID' }).waitFor();
  await axeCheck(page, 'account with a linked provider');
  // The only way into this account: unlinking is refused, with the reason.
  await section.getByRole('button', { name: 'Unlink Test ID' }).click();
  await section.locator('[role=alert]').waitFor({ state: 'visible' });
  assert.match(await section.locator('[role=alert]').textContent(), /password|another provider/i);

  step('signing out and in again goes straight through');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((u) => u.pathname === '/', { timeout: 15000 });
  await page.goto(`${base}/signin`);
  await page.getByRole('link', { name: 'Continue with Test ID' }).click();
  // The provider remembers the person: no login page this time.
  await page.waitForURL((u) => u.href.startsWith(base) && u.pathname === '/create', { timeout: 15000 });
  await page.getByRole('link', { name: 'Account' }).waitFor();

  step('an unverified address is refused on the sign-in page');
  const fresh = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  const other = await fresh.newPage();
  other.on('pageerror', (e) => errors.push(String(e)));
  await other.goto(`${base}/signin`);
  await other.getByRole('link', { name: 'Continue with Test ID' }).click();
  await atProvider(other, `unverified-web${stamp}`);
  await other.waitForURL((u) => u.href.startsWith(base) && u.pathname === '/signin', { timeout: 15000 });
  assert.equal(new URL(other.url()).searchParams.get('oidc_error'), 'oidc.email_unverified');
  const alert = other.locator('#form-error');
  await alert.waitFor({ state: 'visible' });
  assert.match(await alert.textContent(), /not verified your email/);
  const cookies = await fresh.cookies();
  assert.ok(!cookies.some((c) => c.name === 'reelsmith_session'), 'no session after a refusal');
  await other.screenshot({ path: join(shots, 'oidc-refused.png') });

  assert.deepEqual(errors, [], 'no script errors');
  step('done');
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
