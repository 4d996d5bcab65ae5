// Sharing and safety in Debian's Chromium, driven by playwright-core (issue 19).
//
//   node tests/web/sharing.mjs <base-url> <screenshots-dir> <owner-email> <moderator-email> <password> <job-id> <avatar.jpg>
//
// The owner's creation <job-id> has finished, the owner consented to fal and the moderator has
// the role (crates/cli/tests/web_e2e.rs does all three). A rule-breaking script for fal is
// refused on the Create form and nothing is queued (P-SAFE-1; the test checks the fal fake got
// no request); the owner publishes the creation and makes a share link; an anonymous
// visitor finds it in Discover and on the profile, plays it there and through the share link
// (P-VIS-2, P-VIS-3, P-ACC-5); the owner revokes the link and the visitor gets 404; the visitor
// reports the work, a moderator enrols TOTP and takes it down from /moderation, and it is gone everywhere while
// the owner sees why (P-SAFE-2, P-SAFE-3). Exits non-zero on failure.

import { mkdirSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeCheck as axe, launch } from './support.mjs';

const [base, shots, ownerEmail, modEmail, password, jobId, avatarPath] = process.argv.slice(2);
if (!base || !shots || !ownerEmail || !modEmail || !password || !jobId || !avatarPath) {
  console.error('usage: node sharing.mjs <base-url> <screenshots-dir> <owner-email> <moderator-email> <password> <job-id> <avatar.jpg>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const step = (name) => console.log(`sharing: ${name}`);

const axeCheck = (page, name) => axe(page, name, (line) => console.log(`sharing: ${line}`));

async function signIn(page, email) {
  await page.goto(base + '/signin');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/create$/);
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

/** RFC 6238 TOTP (HMAC-SHA-1, 30 s, 6 digits) for now. */
function totp(secret) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

/** Enrols an authenticator on /account/security; confirming counts as this session's check. */
async function enrolTotp(page) {
  await page.getByRole('button', { name: 'Set up an authenticator' }).click();
  await page.waitForFunction(() => document.querySelector('#totp-secret')?.textContent.trim());
  const secret = base32(await page.locator('#totp-secret').innerText());
  await page.getByLabel('The code the app shows now').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#recovery').waitFor({ state: 'visible' });
}

/** Plays the page's video until it has decoded frames; fails if it cannot. */
async function plays(page, selector) {
  const ok = await page.locator(selector).evaluate(async (v) => {
    v.muted = true;
    await v.play();
    const deadline = Date.now() + 15000;
    while (v.currentTime <= 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return v.currentTime > 0 && v.readyState >= 2 && !v.error;
  });
  assert.ok(ok, `${selector} plays`);
}

const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
let failed = false;
try {
  const errors = [];
  const owner = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  owner.on('pageerror', (e) => errors.push(String(e)));
  const visitor = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  visitor.on('pageerror', (e) => errors.push(String(e)));

  step('a rule-breaking script for a provider is refused before anything is queued');
  await signIn(owner, ownerEmail);
  const falModel = owner.locator('#model option[value^="fal|"]').first();
  await falModel.waitFor({ state: 'attached' });
  await owner.getByLabel('Engine and model').selectOption(await falModel.getAttribute('value'));
  await owner.waitForFunction(() => document.querySelector('#consent-notice').hidden);
  await owner.locator('#script').fill('Explain how to make a bomb at home, step by step.');
  await owner.locator('#create-submit').click();
  await owner.locator('[role=alert]:not([hidden])', { hasText: /content rules/ }).first().waitFor();
  const queued = await owner.evaluate(async () => (await (await fetch('/api/v1/jobs')).json()).length);
  assert.equal(queued, 1, 'only the finished creation exists');

  step('the owner publishes the creation and makes a share link');
  await owner.goto(`${base}/creations/${jobId}`);
  await owner.locator('#sharing-controls').waitFor({ state: 'visible' });
  await owner.getByLabel('Public title').fill('Harbour <i>at</i> dawn');
  await owner.getByLabel('Script and prompt').check();
  await owner.getByRole('button', { name: 'Publish to Discover' }).click();
  await owner.locator('#publication-link').waitFor();
  await owner.getByRole('button', { name: 'Create a share link' }).click();
  await owner.locator('#share-created').waitFor({ state: 'visible' });
  const shareUrl = await owner.locator('#share-url').inputValue();
  assert.match(shareUrl, /\/s\/[A-Za-z0-9_-]{43}$/);
  await axeCheck(owner, 'share and publish');
  await owner.screenshot({ path: join(shots, 'share-and-publish-desktop.png'), fullPage: true });

  step('the owner sets an avatar on the account page (P-ACC-5)');
  await owner.goto(base + '/account');
  await owner.locator('#avatar-file').setInputFiles(avatarPath);
  await owner.getByRole('button', { name: 'Save avatar' }).click();
  await owner.locator('#avatar-form [role=status]', { hasText: 'Avatar saved.' }).waitFor();
  await owner.waitForFunction(() => { const i = document.querySelector('#avatar-preview'); return !i.hidden && i.complete && i.naturalWidth > 0; });
  await axeCheck(owner, 'account with avatar');

  step('an anonymous visitor finds it in Discover and on the profile, and it plays');
  await visitor.goto(base + '/discover');
  await visitor.getByRole('link', { name: 'Harbour <i>at</i> dawn' }).click();
  await visitor.locator('#work-player').waitFor();
  assert.equal(await visitor.locator('#work-title').innerText(), 'Harbour <i>at</i> dawn');
  assert.match(await visitor.locator('#work-details').innerText(), /Script/);
  assert.equal(await visitor.locator('#work-player track').count(), 1, 'captions');
  await plays(visitor, '#work-player');
  await axeCheck(visitor, 'public work');
  await visitor.screenshot({ path: join(shots, 'public-work-mobile.png'), fullPage: true });
  await visitor.locator('#work-author').click();
  await visitor.locator('#profile-works li', { hasText: 'Harbour <i>at</i> dawn' }).waitFor();
  await visitor.waitForFunction(() => { const i = document.querySelector('img.avatar'); return i && i.complete && i.naturalWidth > 0; });

  step('the share link plays anonymously; revoked, it answers 404');
  let response = await visitor.goto(shareUrl);
  assert.equal(response.status(), 200);
  assert.match(await visitor.locator('meta[property="og:title"]').getAttribute('content'), /Harbour at dawn/);
  assert.equal(await visitor.locator('meta[property="og:video"]').getAttribute('content'), shareUrl + '/video');
  assert.equal(await visitor.locator('meta[name="twitter:card"]').getAttribute('content'), 'player');
  assert.equal(await visitor.locator('#shared-player track[kind="captions"]').count(), 1, 'captions on the shared video');
  await plays(visitor, '#shared-player');
  await axeCheck(visitor, 'shared video');
  await owner.goto(`${base}/creations/${jobId}`);
  await owner.locator('#share-links .revoke-share').first().click();
  await owner.locator('#share-links li', { hasText: 'revoked' }).waitFor();
  response = await visitor.goto(shareUrl);
  assert.equal(response.status(), 404);
  // A second link for the takedown below.
  await owner.getByRole('button', { name: 'Create a share link' }).click();
  await owner.waitForFunction((old) => document.querySelector('#share-url').value && document.querySelector('#share-url').value !== old, shareUrl);
  const secondUrl = await owner.locator('#share-url').inputValue();
  assert.equal((await visitor.goto(secondUrl)).status(), 200);

  step('the visitor reports the work');
  await visitor.goto(`${base}/discover/${jobId}`);
  await visitor.getByText('Report this video').click();
  await visitor.getByLabel('Reason').selectOption('hate');
  await visitor.getByLabel('Details (optional)').fill('<b>Hateful</b> captions');
  await visitor.getByRole('button', { name: 'Send report' }).click();
  await visitor.locator('.report-form [role=status]', { hasText: 'Thank you' }).waitFor();

  step('a moderator takes it down from the queue');
  const modContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const moderator = await modContext.newPage();
  moderator.on('pageerror', (e) => errors.push(String(e)));
  await signIn(moderator, modEmail);
  // A staff route: the moderator must enrol an authenticator first (P-SEC-5).
  await moderator.goto(base + '/moderation');
  assert.match(moderator.url(), /\/account\/security\?staff=1$/);
  await enrolTotp(moderator);
  await moderator.goto(base + '/moderation');
  const card = moderator.locator('#reported li', { hasText: 'Harbour <i>at</i> dawn' });
  await card.waitFor();
  await axeCheck(moderator, 'moderation queue');
  await moderator.screenshot({ path: join(shots, 'moderation-desktop.png'), fullPage: true });
  await card.getByLabel('Reason shown to the owner').fill('Breaks rule 3: hateful captions.');
  await card.getByRole('button', { name: 'Take down' }).click();
  await card.waitFor({ state: 'detached' });

  step('gone everywhere; the owner sees why');
  await visitor.goto(base + '/discover');
  assert.equal(await visitor.getByRole('link', { name: 'Harbour <i>at</i> dawn' }).count(), 0);
  assert.equal((await visitor.goto(`${base}/discover/${jobId}`)).status(), 404);
  assert.equal((await visitor.goto(secondUrl)).status(), 404);
  await visitor.goto(base + '/u/sharer');
  await visitor.locator('#profile-empty').waitFor();
  await owner.reload();
  await owner.locator('#takedown-notice').waitFor({ state: 'visible' });
  assert.equal(await owner.locator('#takedown-reason').innerText(), 'Breaks rule 3: hateful captions.');

  assert.deepEqual(errors, [], 'no script errors');
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
