// Sign-in with an identity provider (P-ACC-4) in Debian's Chromium, driven by playwright-core,
// against a real OpenID provider (npm oidc-provider, started by crates/cli/tests/web_e2e.rs):
//
//   node tests/web/oidc.mjs <base-url> <screenshots-dir> <issuer>
//
// A newcomer presses "Continue with Test ID" on the sign-in page, signs in at the provider's own
// login page, chooses a username with the age statement and policy acceptance, lands in the
// studio signed in, and finds the provider on the Account page; signing out and in again goes
// straight through. Each bad input is refused on the sign-in page with its reason, no account or
// session made: an address the provider has not verified, an ID token signed by another key or
// expired, a replayed, forged or foreign `state`, and an ID token for another `nonce`. Exits
// non-zero on failure.

import { launch } from './support.mjs';
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

/** A fresh browser signs in as `login` and is refused with `code`: the sign-in page says so
 * (its alert matches `says`) and no session is opened. */
async function refusedSignIn(login, code, says) {
  const fresh = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  const page = await fresh.newPage();
  page.on('pageerror', (e) => { throw new Error(`script error: ${e}`); });
  await page.goto(`${base}/signin`);
  await page.getByRole('link', { name: 'Continue with Test ID' }).click();
  await atProvider(page, login);
  await page.waitForURL((u) => u.href.startsWith(base) && u.pathname === '/signin', { timeout: 15000 });
  assert.equal(new URL(page.url()).searchParams.get('oidc_error'), code);
  const alert = page.locator('#form-error');
  await alert.waitFor({ state: 'visible' });
  assert.match(await alert.textContent(), says);
  const cookies = await fresh.cookies();
  assert.ok(!cookies.some((c) => c.name === 'reelsmith_session'), `no session after ${code}`);
  return page;
}

const browser = await launch();
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Where the provider sent the browser back, state and code included, for the replays below.
  const callbacks = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/auth/oidc/test/callback') callbacks.push(r.url());
  });

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
  const other = await refusedSignIn(`unverified-web${stamp}`, 'oidc.email_unverified', /not verified your email/);
  await other.screenshot({ path: join(shots, 'oidc-refused.png') });

  step('an ID token signed by another key, or expired, is refused');
  await refusedSignIn(`badkey-web${stamp}`, 'oidc.signature_invalid', /failed \(oidc\.signature_invalid\)/);
  await refusedSignIn(`expired-web${stamp}`, 'oidc.token_expired', /failed \(oidc\.token_expired\)/);

  step('a replayed, forged or foreign state is refused');
  assert.ok(callbacks.length >= 2, `the provider sent the browser back: ${callbacks}`);
  const used = callbacks[0];
  // Replayed in the browser that used it, forged there, and replayed in another browser.
  const forged = new URL(used);
  forged.searchParams.set('state', `forged${stamp}`);
  for (const [where, url] of [[context, used], [context, forged.href], [null, callbacks[1]]]) {
    const ctx = where || await browser.newContext();
    const p = await ctx.newPage();
    await p.goto(url);
    await p.waitForURL((u) => u.pathname === '/signin', { timeout: 15000 });
    assert.equal(new URL(p.url()).searchParams.get('oidc_error'), 'oidc.state_invalid', url);
    await p.locator('#form-error').waitFor({ state: 'visible' });
    assert.match(await p.locator('#form-error').textContent(), /not started here, was already used/);
    if (!where) {
      assert.ok(!(await ctx.cookies()).some((c) => c.name === 'reelsmith_session'), 'no session from a replay');
    }
    await p.close();
  }

  step('an ID token for another nonce is refused');
  {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    // The provider signs whatever nonce it is asked for: ask it for one this sign-in never chose.
    await p.route((u) => u.pathname === '/auth/oidc/test/start', async (route) => {
      const response = await route.fetch({ maxRedirects: 0 });
      const to = new URL(response.headers().location);
      to.searchParams.set('nonce', `someone-elses-${stamp}`);
      await route.fulfill({ response, headers: { ...response.headers(), location: to.href } });
    });
    await p.goto(`${base}/signin`);
    await p.getByRole('link', { name: 'Continue with Test ID' }).click();
    await atProvider(p, `nonce-web${stamp}`);
    await p.waitForURL((u) => u.href.startsWith(base) && u.pathname === '/signin', { timeout: 15000 });
    assert.equal(new URL(p.url()).searchParams.get('oidc_error'), 'oidc.nonce_mismatch');
    assert.ok(!(await ctx.cookies()).some((c) => c.name === 'reelsmith_session'), 'no session after a refusal');
  }

  assert.deepEqual(errors, [], 'no script errors');
  step('done');
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
