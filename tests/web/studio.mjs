// End-to-end test of the web studio in Debian's Chromium, driven by playwright-core.
//
//   node tests/web/studio.mjs <base-url> <screenshots-dir> <outbox-dir>
//
// Signs up, verifies with the code read from the outbox, creates a job with an uploaded image,
// watches the progress bar move, plays the video, downloads it, creates a revision, deletes the
// earlier one, changes the display name, the email address (with the emailed code, after a wrong
// one) and the password (then signs in again with it, the old one refused), and deletes the job;
// checks the main pages with axe-core and a cross-site form post; writes screenshots of each main
// page at desktop (1280×800) and phone (390×844) width. Exits non-zero on failure.
import { readFileSync, readdirSync, statSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeCheck as axe, launch } from './support.mjs';

const require = createRequire(import.meta.url);
const [base, shots, outbox] = process.argv.slice(2);
if (!base || !outbox || !shots) {
  console.error('usage: node studio.mjs <base-url> <screenshots-dir> <outbox-dir>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });


const step = (name) => console.log(`studio: ${name}`);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** The newest six-digit code mailed to `address`, from the outbox's .eml files. */
function codeFor(address) {
  const files = readdirSync(outbox).filter((f) => f.endsWith('.eml'))
    .map((f) => join(outbox, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const file of files) {
    const raw = readFileSync(file, 'utf8');
    const split = raw.search(/\r?\n\r?\n/);
    const head = raw.slice(0, split);
    if (!/^To:.*$/mi.test(head) || !head.match(/^To:.*$/mi)[0].toLowerCase().includes(address.toLowerCase())) continue;
    let body = raw.slice(split).replace(/=\r?\n/g, '');
    // Base64 parts: decode every long base64 run and search that too.
    const decoded = (body.match(/^[A-Za-z0-9+/=]{40,}$(?:\r?\n^[A-Za-z0-9+/=]+$)*/gm) || [])
      .map((b) => Buffer.from(b.replace(/\s+/g, ''), 'base64').toString('utf8'));
    const text = [body, ...decoded].join('\n').split(/\r?\n/)
      .filter((l) => !l.startsWith('--') && !/^[A-Za-z-]+:\s/.test(l)).join('\n');
    const m = text.match(/(?<![0-9A-Za-z])\d{6}(?![0-9A-Za-z])/);
    if (m) return m[0];
  }
  throw new Error(`no code for ${address} in ${outbox}`);
}

/** A small PNG test picture (a gradient), made without any tool. */
function testPng(width = 320, height = 180) {
  const { deflateSync, crc32 } = require('node:zlib');
  const crc = (buf) => {
    if (crc32) return crc32(buf);
    let c, table = [];
    for (let n = 0; n < 256; n++) { c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; table[n] = c >>> 0; }
    let x = 0xffffffff;
    for (const b of buf) x = table[(x ^ b) & 0xff] ^ (x >>> 8);
    return (x ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td) >>> 0);
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      const o = row + 1 + x * 3;
      raw[o] = (x * 255 / width) | 0; raw[o + 1] = (y * 255 / height) | 0; raw[o + 2] = ((x ^ y) & 0xff);
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const axeCheck = (page, name) => axe(page, name, (line) => console.log(`studio: ${line}`));

/** Waits until `cond()` holds, for up to `ms` milliseconds. */
async function until(cond, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
let failed = false;
try {
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true, colorScheme: 'light' });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location().url }); });
  page.on('pageerror', (e) => consoleErrors.push({ text: String(e), url: '' }));
  const failedUrls = [];
  page.on('response', (r) => { if (r.status() >= 400) failedUrls.push(`${r.status()} ${r.request().method()} ${r.url()}`); });
  // Requests the test makes fail on purpose, as [status, path]: Chromium logs each as a console
  // error, which is expected for these and for nothing else.
  const expectedFailures = [];
  const dialogs = [];
  let dismissNextDialog = false;
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    if (dismissNextDialog) { dismissNextDialog = false; d.dismiss(); } else d.accept();
  });

  // Security headers on a page.
  const landing = await page.goto(base + '/');
  const csp = landing.headers()['content-security-policy'] || '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /script-src[^;]*unsafe-inline/);
  assert.equal(landing.headers()['x-frame-options'], 'DENY');
  await shot(page, 'landing-desktop');
  await axeCheck(page, 'landing');

  step('sign up');
  const email = `web-${Date.now()}@example.com`;
  const password = 'correct horse battery staple';
  await page.goto(base + '/signup');
  await axeCheck(page, 'signup');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Username').fill(`web${Date.now() % 1e8}`);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel(/I am at least/).check();
  await shot(page, 'signup-desktop');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(/\/verify\?/);

  step('verify with the code from the outbox');
  await axeCheck(page, 'verify');
  const code = codeFor(email);
  await page.getByLabel('Code').fill(code);
  await shot(page, 'verify-desktop');
  await page.getByRole('button', { name: 'Confirm' }).click();
  // Verifying signs in; sign out to sign in with the password as a returning person would.
  await page.waitForURL(/\/create\?welcome=1$/);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(base + '/');
  await page.goto(base + '/signin?email=' + encodeURIComponent(email));

  step('sign in');
  await axeCheck(page, 'signin');
  await page.getByLabel('Password').fill(password);
  await shot(page, 'signin-desktop');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/create$/);

  step('create a job with an uploaded image');
  await page.locator('#script').fill('A quiet harbour at dawn. The boats wake up one by one.');
  await page.locator('#media-input').setInputFiles({ name: 'harbour.png', mimeType: 'image/png', buffer: testPng() });
  await page.locator('#media-list li img').waitFor();
  await page.waitForFunction(() => {
    const li = document.querySelector('#media-list li');
    return li && li.dataset.upload && li.dataset.upload !== 'pending';
  });
  assert.notEqual(await page.locator('#media-list li').getAttribute('data-upload'), 'failed',
    await page.locator('#media-list li').innerText());
  await page.getByLabel('Resolution').selectOption('480p');
  await page.getByLabel('Frames per second').selectOption('24');
  const words = await page.locator('#word-count').innerText();
  assert.equal(words, '12 words');
  assert.match(await page.locator('#estimate-length').innerText(), /^\d+ s$/);
  assert.equal(await page.locator('#estimate-size').innerText(), '854 × 480');
  await axeCheck(page, 'create');
  await shot(page, 'create-desktop');
  await page.getByRole('button', { name: 'Create video' }).click();
  await page.waitForURL(/\/creations\/[^/]+$/);
  const jobUrl = page.url();

  step('watch the progress bar move');
  const seen = new Set();
  const deadline = Date.now() + 180_000;
  let status = '';
  while (Date.now() < deadline) {
    seen.add(Number(await page.locator('#job-progress').getAttribute('value')));
    status = await page.locator('#job').getAttribute('data-status');
    if (['succeeded', 'failed', 'cancelled'].includes(status)) break;
    if (seen.size === 3) await shot(page, 'job-progress-desktop');
    await page.waitForTimeout(100);
  }
  seen.add(Number(await page.locator('#job-progress').getAttribute('value')));
  assert.equal(status, 'succeeded', `the job ended ${status}: ${await page.locator('#form-error').innerText().catch(() => '')}`);
  const values = [...seen].sort((a, b) => a - b);
  console.log(`studio: progress values seen: ${values.join(', ')}`);
  assert.ok(values.length >= 3 && values.at(-1) === 100, `the progress bar moved: ${values}`);

  step('play the video');
  const video = page.locator('#player');
  await video.waitFor();
  await page.waitForFunction(() => document.querySelector('#player').readyState >= 2, null, { timeout: 30_000 });
  const t0 = await video.evaluate((v) => v.currentTime);
  await video.evaluate((v) => { v.muted = true; return v.play(); });
  await page.waitForFunction((t) => document.querySelector('#player').currentTime > t + 0.2, t0, { timeout: 30_000 });
  // Seekable: jump to the middle.
  await video.evaluate((v) => { v.currentTime = v.duration / 2; });
  await page.waitForFunction(() => document.querySelector('#player').currentTime > 0.3);
  // Karaoke captions are in the picture: the player's track is not drawn over them, and there is
  // no switch (tests/web/newcomer.mjs checks a frame, and the switch of a video without them).
  assert.equal(await video.evaluate((v) => v.textTracks.length), 1);
  assert.equal(await video.evaluate((v) => v.textTracks[0].mode), 'disabled');
  assert.ok(await page.locator('#captions-switch').isHidden());
  await video.evaluate((v) => v.pause());
  await axeCheck(page, 'job');
  await shot(page, 'job-desktop');

  step('download it');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-mp4').click()]);
  const path = await download.path();
  const head = readFileSync(path).subarray(0, 12);
  assert.equal(head.subarray(4, 8).toString('latin1'), 'ftyp', 'the download is an MP4');
  console.log(`studio: downloaded ${download.suggestedFilename()} (${statSync(path).size} bytes)`);

  step('create a revision');
  await page.locator('#revise-form #script').fill('A quiet harbour at dusk. The boats sleep.');
  await page.locator('#revise-form #style').selectOption('warm');
  await page.getByRole('button', { name: 'Create revision' }).click();
  await page.locator('#revisions li[data-revision="2"]').waitFor();
  await page.waitForFunction(() => document.querySelector('#job').dataset.status === 'succeeded', null, { timeout: 180_000 });
  await page.locator('#revisions li[data-revision="2"]', { hasText: 'succeeded' }).waitFor();
  assert.equal(await page.locator('#revisions li').count(), 2);
  await page.waitForFunction(() => document.querySelector('#player').readyState >= 2, null, { timeout: 30_000 });

  step('delete the earlier revision');
  const jobId = jobUrl.split('/').pop();
  const rev1 = page.locator('#revisions li[data-revision="1"]');
  const rev2 = page.locator('#revisions li[data-revision="2"]');
  assert.match(await rev2.innerText(), /current/);
  assert.equal(await rev2.getByRole('button', { name: /^Delete/ }).count(), 0, 'the current revision has no Delete button');
  const rev1Video = new URL(await rev1.getByRole('link', { name: 'MP4 of revision 1' }).getAttribute('href'), base).href;
  assert.match(rev1Video, /\/video\?revision=1$/);
  assert.equal((await context.request.get(rev1Video)).status(), 200);
  await page.locator('#revisions-h').scrollIntoViewIfNeeded();
  await shot(page, 'job-revisions-desktop');
  // Dismissing the confirmation keeps it.
  dismissNextDialog = true;
  await rev1.getByRole('button', { name: 'Delete revision 1' }).click();
  await until(() => dialogs.length === 1, 'the confirmation');
  assert.match(dialogs[0], /Delete revision 1/);
  await page.waitForTimeout(300);
  assert.equal(await rev1.count(), 1, 'a dismissed confirmation deletes nothing');
  assert.equal((await context.request.get(rev1Video)).status(), 200);
  // Accepting it deletes the revision and its files.
  await rev1.getByRole('button', { name: 'Delete revision 1' }).click();
  await until(() => dialogs.length === 2, 'the second confirmation');
  await rev1.waitFor({ state: 'detached' });
  await page.locator('#revisions-status', { hasText: 'Revision 1 is deleted.' }).waitFor();
  assert.equal(await page.locator('#revisions li').count(), 1);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'revisions-h');
  const rev1After = await context.request.get(rev1Video);
  assert.equal(rev1After.status(), 404, 'the deleted revision\'s video is gone');
  assert.equal((await rev1After.json()).code, 'not_found');
  const revsLeft = await (await context.request.get(`${base}/api/v1/jobs/${jobId}/revisions`)).json();
  assert.deepEqual(revsLeft.map((r) => r.revision), [2]);
  const current = await context.request.delete(`${base}/api/v1/jobs/${jobId}/revisions/2`);
  assert.equal(current.status(), 409);
  assert.equal((await current.json()).code, 'job.revision_is_current');
  // The current revision still plays.
  assert.equal((await context.request.get(`${base}/api/v1/jobs/${jobId}/video`)).status(), 200);

  step('My creations and Account');
  await page.goto(base + '/creations');
  await page.locator('#jobs li[data-status="succeeded"] img').waitFor();
  assert.equal(await page.locator('#jobs li progress').getAttribute('value'), '100');
  await axeCheck(page, 'creations');
  await shot(page, 'creations-desktop');
  await page.goto(base + '/account');
  await page.locator('#sessions li').first().waitFor();
  await page.getByLabel('Token name').fill('laptop script');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.locator('#token-value').waitFor();
  const token = await page.locator('#token-value').innerText();
  assert.match(token, /^\S{20,}$/);
  const me = await (await fetch(base + '/api/v1/me', { headers: { Authorization: `Bearer ${token}` } })).json();
  assert.equal(me.email, email);
  await axeCheck(page, 'account');
  await shot(page, 'account-desktop');
  await page.getByRole('button', { name: 'Revoke token laptop script' }).click();
  await page.locator('#tokens li').first().waitFor({ state: 'detached' });
  assert.equal((await fetch(base + '/api/v1/me', { headers: { Authorization: `Bearer ${token}` } })).status, 401);

  step('change the display name');
  const profileForm = page.locator('#profile-form');
  assert.equal(await profileForm.getByLabel('Display name').inputValue(), await page.locator('#p-name').innerText());
  await profileForm.getByLabel('Display name').fill('   ');
  expectedFailures.push([422, '/api/v1/me']);
  await profileForm.getByRole('button', { name: 'Save name' }).click();
  await profileForm.getByRole('alert').waitFor({ state: 'visible' });
  assert.match(await profileForm.getByRole('alert').innerText(), /^The display name must be 1 to 80 characters.*\.$/);
  assert.equal(await profileForm.getByLabel('Display name').getAttribute('aria-invalid'), 'true');
  await profileForm.getByLabel('Display name').fill('Harbour Studio');
  await profileForm.getByRole('button', { name: 'Save name' }).click();
  await page.locator('#p-name', { hasText: 'Harbour Studio' }).waitFor();
  assert.equal(await profileForm.getByRole('status').innerText(), 'Your name is saved.');
  assert.ok(await profileForm.getByRole('alert').isHidden());
  await page.reload();
  await page.locator('#p-name', { hasText: 'Harbour Studio' }).waitFor();
  assert.equal(await page.locator('header a[href="/account"]').getAttribute('title'), 'Signed in as Harbour Studio');

  step('change the email address');
  const newEmail = `moved-${Date.now()}@example.com`;
  const emailForm = page.locator('#email-form');
  const verifyForm = page.locator('#email-verify-form');
  assert.ok(await verifyForm.isHidden());
  await emailForm.getByLabel('New email address').fill(newEmail);
  await emailForm.getByLabel('Current password').fill(password);
  await emailForm.getByRole('button', { name: 'Send code' }).click();
  await verifyForm.waitFor({ state: 'visible' });
  assert.match(await emailForm.getByRole('status').innerText(), new RegExp(`sent a code to ${newEmail.replace(/[.]/g, '\\.')}`));
  assert.equal(await page.evaluate(() => document.activeElement.id), 'email-code');
  assert.equal(await page.locator('#p-email').innerText(), email, 'nothing changes before the code');
  // The code form is still offered after a reload.
  await page.reload();
  await verifyForm.waitFor({ state: 'visible' });
  assert.match(await verifyForm.innerText(), new RegExp(`sent to ${newEmail.replace(/[.]/g, '\\.')}`));
  await page.locator('#p-email', { hasText: email }).waitFor();
  const emailCode = codeFor(newEmail);
  const wrongCode = String((Number(emailCode) + 1) % 1e6).padStart(6, '0');
  await verifyForm.getByLabel('Code from the email').fill(wrongCode);
  expectedFailures.push([400, '/api/v1/me/email/verify']);
  await verifyForm.getByRole('button', { name: 'Confirm new email' }).click();
  await verifyForm.getByRole('alert').waitFor({ state: 'visible' });
  assert.match(await verifyForm.getByRole('alert').innerText(), /code is wrong/);
  assert.equal(await verifyForm.getByLabel('Code from the email').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#p-email').innerText(), email);
  await axeCheck(page, 'account with an error');
  await shot(page, 'account-email-code-desktop');
  await verifyForm.getByLabel('Code from the email').fill(emailCode);
  await verifyForm.getByRole('button', { name: 'Confirm new email' }).click();
  await page.locator('#p-email', { hasText: newEmail }).waitFor();
  await verifyForm.waitFor({ state: 'hidden' });
  assert.equal(await emailForm.getByRole('status').innerText(), `Your email address is now ${newEmail}.`);
  const moved = await (await context.request.get(base + '/api/v1/me')).json();
  assert.equal(moved.email, newEmail);
  assert.equal(moved.email_verified, true);

  step('change the password');
  const newPassword = 'a lighthouse keeps the night watch';
  // Another session, as another device would hold.
  const otherLogin = await fetch(base + '/api/v1/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: newEmail, password }),
  });
  assert.equal(otherLogin.status, 200);
  const otherCookie = otherLogin.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('reelsmith_session='));
  assert.ok(otherCookie, 'the other sign-in set a session cookie');
  const otherMe = () => fetch(base + '/api/v1/me', { headers: { Cookie: otherCookie } }).then((r) => r.status);
  assert.equal(await otherMe(), 200);
  await page.reload();
  await page.locator('#sessions li').nth(1).waitFor();
  assert.equal(await page.locator('#sessions li').count(), 2);
  const passwordForm = page.locator('#password-form');
  await passwordForm.getByLabel('Current password').fill('not the password at all');
  await passwordForm.getByLabel('New password').fill(newPassword);
  expectedFailures.push([401, '/api/v1/me/password']);
  await passwordForm.getByRole('button', { name: 'Change password' }).click();
  await passwordForm.getByRole('alert').waitFor({ state: 'visible' });
  assert.equal(await passwordForm.getByRole('alert').innerText(), 'The current password is wrong.');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'current-password');
  assert.match(page.url(), /\/account$/, 'a wrong password does not sign out');
  assert.equal(await otherMe(), 200);
  await passwordForm.getByLabel('Current password').fill(password);
  await passwordForm.getByLabel('New password').fill(newPassword);
  await passwordForm.getByRole('button', { name: 'Change password' }).click();
  await passwordForm.getByRole('status', { hasText: 'Your password is changed' }).waitFor();
  assert.ok(await passwordForm.getByRole('alert').isHidden());
  assert.equal(await passwordForm.getByLabel('New password').inputValue(), '', 'the form is cleared');
  await page.waitForFunction(() => document.querySelectorAll('#sessions li').length === 1);
  assert.equal(await otherMe(), 401, 'the other session ended');
  await axeCheck(page, 'account after changes');

  step('sign out, then sign in with the new password only');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(base + '/');
  await page.goto(base + '/signin');
  await page.getByLabel('Email address').fill(newEmail);
  await page.getByLabel('Password').fill(password);
  expectedFailures.push([401, '/api/v1/auth/login']);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#form-error').waitFor({ state: 'visible' });
  assert.match(await page.locator('#form-error').innerText(), /password is wrong/);
  assert.match(page.url(), /\/signin$/);
  await page.getByLabel('Password').fill(newPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/create$/);
  await page.goto(base + '/account');
  await page.locator('#p-email', { hasText: newEmail }).waitFor();
  assert.equal(await page.locator('#p-name').innerText(), 'Harbour Studio');
  await page.goto(base + '/privacy');
  await axeCheck(page, 'privacy');
  await shot(page, 'privacy-desktop');

  step('a cross-site form post is refused');
  const evil = await context.newPage();
  await evil.route('http://evil.example/**', (r) => r.fulfill({
    contentType: 'text/html',
    body: `<form id="f" method="post" action="${base}/api/v1/tokens" enctype="text/plain">
      <input name='{"name":"stolen","x":"' value='"}'></form>`,
  }));
  await evil.goto('http://evil.example/');
  const [crossSite] = await Promise.all([
    evil.waitForResponse((r) => r.url().startsWith(base + '/api/v1/tokens')),
    evil.evaluate(() => document.getElementById('f').submit()),
  ]);
  assert.equal(crossSite.status(), 403);
  assert.equal((await crossSite.json()).code, 'csrf.cross_origin');
  await evil.close();
  const tokens = await page.evaluate(async () => (await fetch('/api/v1/tokens')).json());
  assert.ok(!tokens.some((t) => t.name === 'stolen'), 'no token was made by the cross-site post');

  step('phone width');
  const phone = await browser.newContext({
    viewport: PHONE, deviceScaleFactor: 1, isMobile: true, hasTouch: true,
    storageState: await context.storageState(), colorScheme: 'dark',
  });
  const p2 = await phone.newPage();
  for (const [name, path] of [['landing', '/'], ['create', '/create'], ['creations', '/creations'],
    [`job`, new URL(jobUrl).pathname], ['account', '/account'], ['privacy', '/privacy']]) {
    await p2.goto(base + path);
    if (name === 'creations') await p2.locator('#jobs li img').first().waitFor();
    if (name === 'job') await p2.waitForFunction(() => document.querySelector('#player').readyState >= 2);
    if (name === 'account') {
      await p2.locator('#sessions li').first().waitFor();
      // A long email address wraps instead of running off the screen.
      const right = await p2.evaluate((w) => Math.max(...[...document.querySelectorAll('.profile dd, .account form')]
        .map((e) => e.getBoundingClientRect().right)) - w, PHONE.width);
      assert.ok(right <= 0, `the account profile runs ${right}px past a phone screen`);
      await axeCheck(p2, 'account (phone, dark)');
    }
    // Against the phone's width, not innerWidth: a mobile viewport zooms out to fit content that
    // overflows, which would widen innerWidth to match.
    const overflow = await p2.evaluate((w) => document.documentElement.scrollWidth - w, PHONE.width);
    assert.ok(overflow <= 1, `${name} is wider than a phone by ${overflow}px`);
    await shot(p2, `${name}-phone`);
  }
  const anon = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 1, isMobile: true, colorScheme: 'dark' });
  const p3 = await anon.newPage();
  for (const [name, path] of [['signup', '/signup'], ['signin', '/signin']]) {
    await p3.goto(base + path);
    const overflow = await p3.evaluate((w) => document.documentElement.scrollWidth - w, PHONE.width);
    assert.ok(overflow <= 1, `${name} is wider than a phone by ${overflow}px`);
    await shot(p3, `${name}-phone`);
  }
  await anon.close();
  await phone.close();

  step('delete the job');
  await page.goto(jobUrl);
  await page.locator('#job[data-status="succeeded"]').waitFor();
  await page.getByRole('button', { name: 'Delete this creation' }).click();
  await page.waitForURL(/\/creations$/);
  await page.locator('#jobs-empty').waitFor({ state: 'visible' });
  const gone = await context.request.get(base + '/api/v1/jobs/' + jobUrl.split('/').pop());
  assert.equal(gone.status(), 404);

  step('sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(base + '/');
  await page.goto(base + '/create');
  assert.match(page.url(), /\/signin\?next=%2Fcreate|\/signin\?next=\/create/);

  const expected = (e) => expectedFailures.some(([status, path]) =>
    e.text.startsWith(`Failed to load resource: the server responded with a status of ${status}`)
    && e.url && new URL(e.url, base).pathname === path);
  const relevant = consoleErrors.filter((e) => !/favicon/.test(e.text) && !expected(e)).map((e) => `${e.text} (${e.url})`);
  assert.deepEqual(relevant, [], `no console errors (failed requests: ${failedUrls.join(', ')})`);
  writeFileSync(join(shots, 'README.md'), 'Screenshots written by tests/web/studio.mjs (desktop 1280×800 light, phone 390×844 dark).\n');
  step('passed');
} catch (err) {
  failed = true;
  console.error('studio: FAILED:', err && err.stack || err);
} finally {
  await browser.close();
}
// ---- AI providers, the quote, consent and credits (issue #6) ----
// web_e2e.rs starts the server with a fal key (REELSMITH__PROVIDERS__FAL__KEY), so fal's models
// are offered. Nothing is submitted to fal: no request leaves the machine.
if (!failed) {
  const browser2 = await launch();
  try {
    const context = await browser2.newContext({ viewport: DESKTOP, colorScheme: 'light' });
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`); });
    page.on('pageerror', (e) => errors.push(String(e)));

    step('providers: sign up a second user');
    const email2 = `web2-${Date.now()}@example.com`;
    const password2 = 'another horse battery staple';
    await page.goto(base + '/signup');
    await page.getByLabel('Email address').fill(email2);
    await page.getByLabel('Username').fill(`prov${Date.now() % 1e8}`);
    await page.getByLabel('Password').fill(password2);
    await page.getByLabel(/I am at least/).check();
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.waitForURL(/\/verify\?/);
    await page.getByLabel('Code').fill(codeFor(email2));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(/\/create\?welcome=1$/);
    for (const name of ['AI providers', 'Credits']) {
      assert.ok(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).isVisible(), `nav links ${name}`);
    }

    step('providers: the quote on Create follows the model');
    const KLING = 'fal|fal-ai/kling-video/v2.1/master/text-to-video';
    const VEO = 'fal|fal-ai/veo3.1';
    const FLUX = 'fal|fal-ai/flux/schnell';
    const model = page.getByLabel('Engine and model');
    await page.locator(`#model option[value="${KLING}"]`).waitFor({ state: 'attached' });
    assert.equal(await page.locator('#model optgroup').first().getAttribute('label'), 'fal.ai');
    assert.equal(await page.locator('#model optgroup[label="Replicate"]').count(), 0, 'unconfigured providers are not offered');
    assert.ok(await page.locator('#prompt-field').isHidden(), 'no style prompt for the studio engine');
    await page.locator('#script').fill('A short first scene here.\n\nThe second paragraph is a much longer one, with many words that take the narrator well over five seconds to say out loud.');
    await page.locator('#estimate-cost', { hasText: 'Free' }).waitFor();
    await model.selectOption(KLING);
    await page.locator('#estimate-cost', { hasText: '75 credits for 2 shots in 2 scenes' }).waitFor();
    await page.locator('#estimate-balance', { hasText: '100 credits' }).waitFor();
    assert.ok(await page.locator('#prompt-field').isVisible(), 'style prompt for a provider model');
    assert.ok(await page.locator('#negative-field').isVisible(), 'kling takes a negative prompt');
    assert.match(await page.locator('#model-help').innerText(), /shots of 5 or 10 s.*5 credits a second/s);
    await page.locator('#consent-notice').waitFor({ state: 'visible' });
    assert.ok(await page.locator('#create-submit').isDisabled(), 'no submission without consent');
    await axeCheck(page, 'create with a provider model');
    await shot(page, 'create-provider-desktop');
    await model.selectOption(VEO);
    await page.waitForFunction(() => /credits for/.test(document.querySelector('#estimate-cost').textContent)
      && !document.querySelector('#estimate-cost').textContent.startsWith('75 '));
    assert.ok(await page.locator('#aspect option[value="1:1"]').isDisabled(), 'veo 3.1 has no square video');
    assert.equal(await page.locator('#resolution option:not([disabled])').allInnerTexts().then((t) => t.length), 2);
    await model.selectOption(FLUX);
    await page.waitForFunction(() => /credits? for 2 shots/.test(document.querySelector('#estimate-cost').textContent)
      && document.querySelector('#estimate-cost').textContent.startsWith('2 '));
    assert.ok(await page.locator('#negative-field').isHidden(), 'flux takes no negative prompt');
    await model.selectOption('studio');
    await page.locator('#estimate-cost', { hasText: 'Free' }).waitFor();
    await page.locator('#consent-notice').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('#create-submit').isEnabled());

    step('providers: give and withdraw consent');
    await model.selectOption(KLING);
    await page.getByRole('link', { name: 'Give your consent for fal.ai on the AI providers page' }).click();
    await page.waitForURL(/\/providers$/);
    await page.locator('#providers[aria-busy="false"]').waitFor();
    const card = page.locator('[data-provider="fal"]');
    assert.equal(await card.getAttribute('data-consent'), 'none');
    assert.match(await card.innerText(), /fal-ai\/kling-video\/v2\.1\/standard\/image-to-video: each scene’s visual prompt.*the scene’s image/);
    assert.ok(await page.locator('#history-empty').isVisible());
    await axeCheck(page, 'providers');
    await page.getByRole('button', { name: 'Give consent for fal.ai' }).click();
    await page.locator('[data-provider="fal"][data-consent="granted"]').waitFor();
    assert.equal(await page.locator('#consent-status').innerText(), 'Consent for fal.ai is given.');
    assert.equal(await page.locator('#consent-history tbody tr').count(), 1);
    assert.match(await page.locator('[data-provider="fal"] .consent-state').innerText(), /under policy \S+/);
    await page.getByRole('button', { name: 'Withdraw consent for fal.ai' }).click();
    await page.locator('[data-provider="fal"][data-consent="withdrawn"]').waitFor();
    assert.equal(await page.locator('#consent-status').innerText(), 'Consent for fal.ai is withdrawn.');
    assert.notEqual(await page.locator('#consent-history tbody tr td').nth(3).innerText(), '—');
    await page.getByRole('button', { name: 'Give consent for fal.ai' }).click();
    await page.locator('[data-provider="fal"][data-consent="granted"]').waitFor();
    assert.equal(await page.locator('#consent-history tbody tr').count(), 2);
    await axeCheck(page, 'providers after changes');
    await shot(page, 'providers-desktop');

    step('providers: Create shows no notice once consent is given');
    await page.goto(base + '/create');
    await page.locator(`#model option[value="${KLING}"]`).waitFor({ state: 'attached' });
    await page.locator('#script').fill('A short first scene here.');
    await model.selectOption(KLING);
    await page.locator('#estimate-cost', { hasText: '25 credits for 1 shot in 1 scene' }).waitFor();
    await page.waitForFunction(() => document.querySelector('#consent-notice').hidden);
    assert.ok(await page.locator('#create-submit').isEnabled(), 'consent given and the balance covers it');

    step('credits page');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Credits' }).click();
    await page.waitForURL(/\/credits$/);
    await page.locator('#balance', { hasText: '100 credits' }).waitFor();
    const grantRow = page.locator('#ledger tbody tr[data-kind="grant"]');
    await grantRow.waitFor();
    assert.match(await grantRow.innerText(), /\+100/);
    assert.equal(await page.locator('a[href="/credits"]').getAttribute('aria-current'), 'page');
    await axeCheck(page, 'credits');
    await shot(page, 'credits-desktop');

    assert.deepEqual(errors, [], 'no console errors on the provider pages');
    step('providers passed');
  } catch (err) {
    failed = true;
    console.error('studio: providers FAILED:', err && err.stack || err);
  } finally {
    await browser2.close();
  }
}
process.exit(failed ? 1 : 0);
