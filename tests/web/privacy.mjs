// The privacy controls of the web studio in Debian's Chromium, driven by playwright-core.
//
//   node tests/web/privacy.mjs <base-url> <screenshots-dir> <email> <password>
//
// The account exists already and a material privacy notice version was published after it
// signed up (crates/cli/tests/web_e2e.rs does both). Signs in, sees the policy notice and
// accepts it (P-COMM-2); turns product news on and off (P-COMM-1); pauses and resumes
// processing (P-RIGHTS-4); prepares an export and downloads it (P-RIGHTS-1); deletes the account
// after a wrong password is refused (P-RET-4), then cannot sign in. Exits non-zero on failure.

import { launch } from './support.mjs';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const [base, shots, email, password] = process.argv.slice(2);
if (!base || !shots || !email || !password) {
  console.error('usage: node privacy.mjs <base-url> <screenshots-dir> <email> <password>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const step = (name) => console.log(`privacy: ${name}`);

async function axeCheck(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.equal(bad.length, 0, `${name}: serious or critical accessibility violations: ${bad.map((v) => v.id).join(', ')}`);
}

const browser = await launch();
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  step('sign in: the policy notice asks for acceptance');
  await page.goto(base + '/signin');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/create$/);
  const notice = page.locator('#policy-notice');
  await notice.waitFor({ state: 'visible' });
  assert.match(await notice.innerText(), /privacy notice, version 2026-12-01/);
  assert.match(await notice.innerText(), /Videos are now kept 30 days/);
  await axeCheck(page, 'policy notice');
  await page.screenshot({ path: join(shots, 'policy-notice-desktop.png') });
  await page.getByRole('button', { name: 'I have read them and accept' }).click();
  await notice.waitFor({ state: 'hidden' });
  await page.reload();
  await page.locator('#script').waitFor();
  assert.ok(await notice.isHidden(), 'accepted: no notice any more');

  step('account: the acceptance is listed');
  await page.goto(base + '/account');
  await page.locator('#policy-acceptances li', { hasText: 'Privacy notice version 2026-12-01' }).waitFor();

  step('account: the "creation is ready" email on (kept after a reload)');
  const ready = page.getByLabel('Email me when a creation is ready');
  assert.equal(await ready.isChecked(), false, 'off by default');
  await ready.check();
  await page.locator('#notify-form [role=status]', { hasText: 'You will get an email when a creation is ready.' }).waitFor();

  step('account: product news on, then off');
  const news = page.getByLabel('Send me product news');
  assert.equal(await news.isChecked(), false, 'off by default');
  await news.check();
  await page.locator('#marketing-form [role=status]', { hasText: 'You will get product news by email.' }).waitFor();
  await page.reload();
  await page.waitForFunction(() => document.querySelector('#marketing-opt-in').checked
    && document.querySelector('#notify-job-finished').checked);
  await news.uncheck();
  await page.locator('#marketing-form [role=status]', { hasText: 'No more product news.' }).waitFor();

  step('account: pause processing, then resume');
  const pause = page.getByLabel('Pause processing');
  await pause.check();
  await page.locator('#processing-form [role=status]', { hasText: 'Processing is paused' }).waitFor();
  await page.reload();
  await page.waitForFunction(() => document.querySelector('#processing-paused').checked);
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  assert.equal(me.processing_paused, true);
  await pause.uncheck();
  await page.locator('#processing-form [role=status]', { hasText: 'Processing is on again' }).waitFor();

  step('account: export everything and download it');
  await page.getByRole('button', { name: 'Prepare my archive' }).click();
  const link = page.locator('#exports a', { hasText: 'Download' });
  await link.waitFor({ timeout: 60_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const zip = readFileSync(await download.path());
  assert.equal(zip.subarray(0, 2).toString(), 'PK', 'a ZIP archive');
  assert.ok(zip.includes(Buffer.from('profile.json')), 'the archive holds the profile');
  await axeCheck(page, 'account');
  await page.screenshot({ path: join(shots, 'account-privacy-desktop.png'), fullPage: true });

  step('account: delete, after a wrong password is refused');
  await page.locator('#delete-password').fill('not the password');
  await page.getByLabel('I understand that this cannot be undone').check();
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.locator('#delete-form [role=alert]', { hasText: 'The password is wrong. Nothing was deleted.' }).waitFor();
  assert.equal((await page.evaluate(async () => (await fetch('/api/v1/me')).status)), 200, 'still signed in');
  await page.locator('#delete-password').fill(password);
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.waitForURL(/\/signin\?deleted=/);
  assert.match(await page.locator('main').innerText(), /Your account is deleted/);
  assert.equal((await page.evaluate(async () => (await fetch('/api/v1/me')).status)), 401, 'signed out');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[role=alert]:visible').first().waitFor();
  assert.match(page.url(), /\/signin/, 'a deleted account cannot sign in');

  assert.deepEqual(errors, [], 'no script errors');
  step('passed');
} catch (err) {
  failed = true;
  console.error('privacy: FAILED:', err && err.stack || err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
