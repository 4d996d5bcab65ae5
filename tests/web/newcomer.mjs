// The studio as a newcomer finds it (issue 15), in Debian's Chromium driven by playwright-core.
//
//   node tests/web/newcomer.mjs <base-url> <screenshots-dir> <outbox-dir>
//
// Signs up, asks for a new code on the verify page (and sees the limit), verifies and is signed
// in; tries the Create form's limits (word limit shown up front, submit disabled while invalid,
// a refused file marked and blocking, a recording that turns the narrator off and sets the
// length, keyboard focus on the file pickers); submits while processing is paused and watches
// the job page explain the wait, then follow the render live to its end (no Cancel button, the
// player, no reload); checks a frame of the playing video shows its burned-in captions once, not
// doubled by the player's caption track; revises with captions off and sees the new poster and
// the switch; downloads under the creation's name; searches My creations; lists, previews and
// deletes uploads on My uploads; deletes the creation and finds its uploads gone from the API
// and the export (P-RET-2, P-RET-5); signs out everywhere else; shows not-found pages; and checks
// the Credits ledger at phone width. Exits non-zero on failure.
import { readFileSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeCheck as axe, launch } from './support.mjs';

const require = createRequire(import.meta.url);
const [base, shots, outbox] = process.argv.slice(2);
if (!base || !outbox || !shots) {
  console.error('usage: node newcomer.mjs <base-url> <screenshots-dir> <outbox-dir>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });


const step = (name) => console.log(`newcomer: ${name}`);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** Every six-digit code mailed to `address`, newest first, from the outbox's .eml files. */
function codesFor(address) {
  const files = readdirSync(outbox).filter((f) => f.endsWith('.eml'))
    .map((f) => join(outbox, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs || b.localeCompare(a));
  const codes = [];
  for (const file of files) {
    const raw = readFileSync(file, 'utf8');
    const split = raw.search(/\r?\n\r?\n/);
    const head = raw.slice(0, split);
    const to = head.match(/^To:.*$/mi);
    if (!to || !to[0].toLowerCase().includes(address.toLowerCase())) continue;
    const body = raw.slice(split).replace(/=\r?\n/g, '');
    const decoded = (body.match(/^[A-Za-z0-9+/=]{40,}$(?:\r?\n^[A-Za-z0-9+/=]+$)*/gm) || [])
      .map((b) => Buffer.from(b.replace(/\s+/g, ''), 'base64').toString('utf8'));
    const text = [body, ...decoded].join('\n').split(/\r?\n/)
      .filter((l) => !l.startsWith('--') && !/^[A-Za-z-]+:\s/.test(l)).join('\n');
    const m = text.match(/(?<![0-9A-Za-z])\d{6}(?![0-9A-Za-z])/);
    if (m) codes.push(m[0]);
  }
  return codes;
}

function mailCount(address) {
  return readdirSync(outbox).filter((f) => f.endsWith('.eml'))
    .filter((f) => (readFileSync(join(outbox, f), 'utf8').match(/^To:.*$/mi) || [''])[0].toLowerCase().includes(address.toLowerCase())).length;
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
  ihdr[8] = 8; ihdr[9] = 2;
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

/** A mono 16-bit WAV of `seconds` of a warbling tone, standing in for a voice recording. */
function testWav(seconds) {
  const rate = 16000;
  const n = Math.round(rate * seconds);
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0); buf.writeUInt32LE(36 + n * 2, 4); buf.write('WAVE', 8);
  buf.write('fmt ', 12); buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24); buf.writeUInt32LE(rate * 2, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34);
  buf.write('data', 36); buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const v = Math.sin(2 * Math.PI * (180 + 60 * Math.sin(2 * Math.PI * 3 * t)) * t) * 0.5 * (0.6 + 0.4 * Math.sin(2 * Math.PI * 2 * t));
    buf.writeInt16LE(Math.round(v * 32767), 44 + i * 2);
  }
  return buf;
}

const axeCheck = (page, name) => axe(page, name, (line) => console.log(`newcomer: ${line}`));

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

/** Mean share of pixels in the lower 40 % of the player's picture where a screenshot of the
 *  player (which shows any text-track cue drawn over the video) differs from the decoded frame
 *  itself drawn on a canvas (which never holds a cue). Controls are hidden while it looks. */
async function cueOverlayShare(page) {
  const player = page.locator('#player');
  await player.evaluate((v) => { v.controls = false; });
  await page.waitForTimeout(300);
  const png = await player.screenshot();
  const share = await player.evaluate(async (v, dataUrl) => {
    const img = new Image();
    img.src = dataUrl;
    await img.decode();
    const w = img.naturalWidth;
    const h = img.naturalHeight;
    // The picture's box inside the element (object-fit: contain).
    const scale = Math.min(w / v.videoWidth, h / v.videoHeight);
    const pw = v.videoWidth * scale;
    const ph = v.videoHeight * scale;
    const px = (w - pw) / 2;
    const py = (h - ph) / 2;
    const shotCanvas = new OffscreenCanvas(w, h);
    shotCanvas.getContext('2d').drawImage(img, 0, 0);
    const frameCanvas = new OffscreenCanvas(w, h);
    const fctx = frameCanvas.getContext('2d');
    fctx.fillStyle = '#000';
    fctx.fillRect(0, 0, w, h);
    fctx.drawImage(v, px, py, pw, ph);
    const y0 = Math.round(py + ph * 0.6);
    const rows = Math.round(ph * 0.4) - 2;
    const x0 = Math.round(px) + 2;
    const cols = Math.round(pw) - 4;
    const a = shotCanvas.getContext('2d').getImageData(x0, y0, cols, rows).data;
    const b = fctx.getImageData(x0, y0, cols, rows).data;
    let differ = 0;
    for (let i = 0; i < a.length; i += 4) {
      const d = Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
      if (d > 120) differ += 1;
    }
    return differ / (a.length / 4);
  }, `data:image/png;base64,${png.toString('base64')}`);
  await player.evaluate((v) => { v.controls = true; });
  return share;
}

const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
let failed = false;
try {
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true, colorScheme: 'light', deviceScaleFactor: 1 });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });

  step('sign up');
  const stamp = Date.now();
  const email = `newcomer-${stamp}@example.com`;
  const password = 'a newcomer finds the harbour';
  await page.goto(base + '/signup');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Username').fill(`new${stamp % 1e8}`);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel(/I am at least/).check();
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL(/\/verify\?/);

  step('verify: a wrong code reads as a sentence; a new code replaces the old one');
  const firstCode = codesFor(email)[0];
  assert.ok(firstCode, 'the sign-up code was mailed');
  const wrong = String((Number(firstCode) + 1) % 1e6).padStart(6, '0');
  await page.getByLabel('Code').fill(wrong);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#form-error').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#form-error').innerText(), 'The code is wrong.');
  const before = mailCount(email);
  const resendForm = page.locator('#resend-form');
  await resendForm.getByRole('button', { name: 'Send a new code' }).click();
  await resendForm.getByRole('status', { hasText: 'A new code is on its way' }).waitFor();
  assert.equal(mailCount(email), before + 1, 'one more email');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'code');
  await axeCheck(page, 'verify with resend');
  await shot(page, 'verify-resend-desktop');

  step('verify: the resend is rate-limited, and says so');
  // Another address, so this account's own code stays usable: the limit is per address.
  const anon = await browser.newContext({ viewport: DESKTOP, colorScheme: 'light' });
  const p4 = await anon.newPage();
  await p4.goto(`${base}/verify?email=${encodeURIComponent(`nobody-${stamp}@example.com`)}`);
  let limited = '';
  for (let i = 0; i < 10 && !limited; i++) {
    await p4.locator('#resend-form button').click();
    await p4.waitForFunction(() => {
      const f = document.querySelector('#resend-form');
      return !f.querySelector('button').disabled && (f.querySelector('[role=status]').textContent || !f.querySelector('[role=alert]').hidden);
    });
    const alert = p4.locator('#resend-form [role=alert]');
    if (await alert.isVisible()) limited = await alert.innerText();
    else await p4.evaluate(() => { document.querySelector('#resend-form [role=status]').textContent = ''; });
  }
  assert.match(limited, /^Too many attempts; try again in \d+ s\.$/, `the limit is shown as a sentence: ${limited}`);
  await anon.close();

  step('verify: the new code signs in');
  const newCode = codesFor(email)[0];
  assert.notEqual(newCode, firstCode);
  await page.getByLabel('Code').fill(newCode);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.waitForURL(/\/create\?welcome=1$/);
  await page.locator('#welcome-notice').waitFor({ state: 'visible' });
  assert.ok(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My uploads' }).isVisible());

  step('create: the word limit is shown before typing, and submit waits for a valid form');
  const submit = page.locator('#create-submit');
  assert.equal(await page.locator('#word-limit').innerText(), '5,000');
  assert.match(await page.locator('#script-stats').innerText(), /^0 words of at most 5,000/);
  assert.ok(await submit.isDisabled(), 'no submission without a script');
  assert.equal(await page.locator('#submit-help').innerText(), 'Write a script first.');
  await page.locator('#script').fill(Array.from({ length: 5001 }, (_, i) => `word${i}`).join(' '));
  await page.locator('#submit-help', { hasText: 'the limit is 5,000' }).waitFor();
  assert.ok(await submit.isDisabled(), 'no submission over the limit');
  assert.match(await page.locator('#word-count').innerText(), /^5,001 words$/);
  const script = 'A quiet harbour at dawn. The boats wake up one by one.';
  await page.locator('#script').fill(script);
  await page.waitForFunction(() => !document.querySelector('#create-submit').disabled);

  step('create: the file pickers show keyboard focus');
  const ring = (sel) => page.locator(sel).evaluate((l) => { const s = getComputedStyle(l); return `${s.outlineStyle} ${s.outlineWidth}`; });
  assert.match(await ring('label[for="media-input"]'), /^none /, 'no ring before focus');
  await page.locator('#script').focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'media-input');
  assert.equal(await ring('label[for="media-input"]'), 'solid 3px');
  await shot(page, 'create-focus-desktop');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'voice-input');
  assert.equal(await ring('label[for="voice-input"]'), 'solid 3px');
  assert.match(await ring('label[for="media-input"]'), /^none /, 'the ring follows the focus');

  step('create: a refused file is marked and blocks submitting until removed');
  await page.locator('#media-input').setInputFiles({ name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture at all') });
  const refused = page.locator('#media-list li.refused');
  await refused.waitFor();
  assert.match(await refused.innerText(), /Not accepted: [A-Z].*\. Remove it to continue\./);
  assert.ok(await submit.isDisabled(), 'a refused file blocks submitting');
  assert.match(await page.locator('#submit-help').innerText(), /Remove “broken\.png”/);
  await axeCheck(page, 'create with a refused file');
  await shot(page, 'create-refused-desktop');
  await refused.getByRole('button', { name: 'Remove broken.png' }).click();
  await refused.waitFor({ state: 'detached' });
  await page.waitForFunction(() => !document.querySelector('#create-submit').disabled);

  step('create: a recording turns the narrator settings off and sets the length');
  assert.ok(await page.locator('#tts-voice').isEnabled());
  await page.locator('#voice-input').setInputFiles({ name: 'reading.wav', mimeType: 'audio/wav', buffer: testWav(7) });
  await page.waitForFunction(() => {
    const li = document.querySelector('#voice-list li');
    return li && li.dataset.upload !== 'pending';
  });
  assert.notEqual(await page.locator('#voice-list li').getAttribute('data-upload'), 'failed', await page.locator('#voice-list li').innerText());
  assert.ok(await page.locator('#tts-voice').isDisabled(), 'the narrator voice no longer applies');
  assert.ok(await page.locator('#rate').isDisabled(), 'nor the speaking rate');
  assert.ok(await page.locator('#voice-help').isVisible());
  assert.equal(await page.locator('#estimate-length').innerText(), '7 s');
  assert.equal(await page.locator('#est-length').innerText(), '7 s');
  await shot(page, 'create-recording-desktop');
  await page.getByRole('button', { name: 'Remove reading.wav' }).click();
  await page.waitForFunction(() => !document.querySelector('#tts-voice').disabled);
  assert.notEqual(await page.locator('#estimate-length').innerText(), '7 s');

  step('create: submit while processing is paused');
  let r = await context.request.put(base + '/api/v1/me/processing', { data: { paused: true } });
  assert.equal(r.status(), 200);
  await page.reload();
  await page.locator('#paused-notice').waitFor({ state: 'visible' });
  // An upload that no creation uses, made straight through the API.
  const spare = await context.request.post(base + '/api/v1/uploads', {
    multipart: { file: { name: 'spare.png', mimeType: 'image/png', buffer: testPng(200, 200) } },
  });
  assert.equal(spare.status(), 201, await spare.text());
  const spareId = (await spare.json()).id;
  await page.locator('#script').fill(script);
  await page.locator('#media-input').setInputFiles({ name: 'harbour.png', mimeType: 'image/png', buffer: testPng() });
  await page.waitForFunction(() => { const li = document.querySelector('#media-list li'); return li && li.dataset.upload !== 'pending'; });
  const harbourId = await page.locator('#media-list li').getAttribute('data-upload');
  assert.notEqual(harbourId, 'failed');
  await page.locator('#resolution').selectOption('480p');
  await page.locator('#fps').selectOption('24');
  await page.waitForFunction(() => !document.querySelector('#create-submit').disabled);
  await axeCheck(page, 'create while paused');
  await shot(page, 'create-paused-desktop');
  await submit.click();
  await page.waitForURL(/\/creations\/[^/]+$/);
  const jobUrl = page.url();
  const jobId = jobUrl.split('/').pop();
  const waiting = page.locator('#job-waiting');
  await waiting.waitFor({ state: 'visible' });
  assert.match(await waiting.innerText(), /processing is paused for your account/);
  assert.ok(await page.getByRole('button', { name: 'Cancel rendering' }).isVisible());
  await axeCheck(page, 'job waiting while paused');
  await shot(page, 'job-paused-desktop');

  step('job: follows the render live to its end, without a reload');
  await page.evaluate(() => { window.__sameDocument = true; });
  r = await context.request.put(base + '/api/v1/me/processing', { data: { paused: false } });
  assert.equal(r.status(), 200);
  await page.waitForFunction(() => document.querySelector('#job').dataset.status === 'succeeded', null, { timeout: 180_000 });
  await page.getByRole('button', { name: 'Cancel rendering' }).waitFor({ state: 'hidden' });
  assert.ok(await waiting.isHidden());
  await page.waitForFunction(() => document.querySelector('#player').readyState >= 2, null, { timeout: 30_000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  assert.match(await page.locator('#player').getAttribute('poster'), /\/poster\?revision=1$/);

  step('job: one caption in the picture, not two');
  const video = page.locator('#player');
  const state = await video.evaluate((v) => ({
    tracks: [...v.textTracks].map((t) => t.mode), burned: v.dataset.captions,
  }));
  assert.deepEqual(state, { tracks: ['disabled'], burned: 'burned-in' });
  assert.ok(await page.locator('#captions-switch').isHidden(), 'no switch for captions that are in the picture');
  assert.match(await page.locator('#captions-note').innerText(), /Captions are part of this video’s picture/);
  // The control: a second copy of the same captions track, loaded (`default`) but hidden, gives
  // the cue times; drawn later, it shows what doubled captions would look like.
  await video.evaluate((v) => {
    const t = document.createElement('track');
    Object.assign(t, { kind: 'captions', srclang: 'en', label: 'Control', default: true, src: v.querySelector('track').src });
    t.id = 'control-track';
    v.append(t);
    t.track.mode = 'hidden';
  });
  await page.waitForFunction(() => { const t = document.querySelector('#control-track').track; return t.cues && t.cues.length > 0; }, null, { timeout: 10_000 });
  const control = () => video.evaluate((v) => [...v.textTracks].findIndex((t) => t.label === 'Control'));
  const ci = await control();
  const cue = await video.evaluate((v, i) => { const c = v.textTracks[i].cues[0]; return { start: c.startTime, end: c.endTime, text: c.text }; }, ci);
  console.log(`newcomer: first cue ${cue.start}–${cue.end}: ${cue.text}`);
  await video.evaluate(async (v, t) => {
    v.muted = true;
    await v.play();
    await new Promise((res) => { const check = () => (v.currentTime >= t ? res() : requestAnimationFrame(check)); check(); });
    v.pause();
  }, (cue.start + cue.end) / 2);
  assert.equal(await video.evaluate((v) => v.textTracks[0].mode), 'disabled', 'the page keeps its own track off');
  const single = await cueOverlayShare(page);
  await page.locator('#player-section').screenshot({ path: join(shots, 'job-captions-once-desktop.png') });
  await video.evaluate((v, i) => { v.textTracks[i].mode = 'showing'; }, ci);
  await page.waitForTimeout(300);
  const doubled = await cueOverlayShare(page);
  await page.locator('#player-section').screenshot({ path: join(shots, 'job-captions-doubled-control.png') });
  await video.evaluate((v, i) => { v.textTracks[i].mode = 'disabled'; document.querySelector('#control-track').remove(); }, ci);
  console.log(`newcomer: caption band differs by ${(single * 100).toFixed(2)} % as shown, ${(doubled * 100).toFixed(2)} % with the track drawn too`);
  assert.ok(doubled > 0.01, `the control shows a drawn cue (${doubled})`);
  assert.ok(single < doubled / 4, `no cue is drawn over the burned-in caption (${single} vs ${doubled})`);
  await axeCheck(page, 'job after a live finish');
  await shot(page, 'job-finished-desktop');

  step('job: downloads are named from the creation');
  const job = await (await context.request.get(`${base}/api/v1/jobs/${jobId}`)).json();
  assert.match(job.file_stem, /^a-quiet-harbour-at-dawn-the-\d{4}-\d\d-\d\d$/);
  assert.equal(await page.locator('#dl-mp4').getAttribute('download'), `${job.file_stem}.mp4`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-mp4').click()]);
  assert.equal(download.suggestedFilename(), `${job.file_stem}.mp4`);
  assert.equal(readFileSync(await download.path()).subarray(4, 8).toString('latin1'), 'ftyp');

  step('job: a revision with captions off finishes live with its own poster and a caption switch');
  await page.locator('#revise-form #script').fill('A quiet harbour at dusk. The boats sleep.');
  await page.locator('#revise-form #captions').selectOption('off');
  await page.getByRole('button', { name: 'Create revision' }).click();
  await page.locator('#revisions li[data-revision="2"]').waitFor();
  await page.waitForFunction(() => document.querySelector('#job').dataset.status === 'succeeded'
    && /revision=2$/.test(document.querySelector('#player').getAttribute('poster') || ''), null, { timeout: 180_000 });
  await page.getByRole('button', { name: 'Cancel rendering' }).waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'still no reload');
  const toggle = page.getByLabel('Show captions');
  assert.ok(await toggle.isVisible(), 'captions off in the picture: the switch shows the track');
  assert.equal(await toggle.isChecked(), false);
  assert.equal(await video.evaluate((v) => v.dataset.captions), 'track');
  await toggle.check();
  assert.equal(await video.evaluate((v) => v.textTracks[0].mode), 'showing');
  await toggle.uncheck();
  assert.equal(await video.evaluate((v) => v.textTracks[0].mode), 'disabled');
  // Named from the current script, with the revision.
  assert.match(await page.locator('#dl-mp4').getAttribute('download'), /^a-quiet-harbour-at-dusk-the-\d{4}-\d\d-\d\d-r2\.mp4$/);
  // Renamed in place: the heading and the download names follow, without a reload.
  await page.getByLabel('Title', { exact: true }).fill('Harbour at dusk, take two');
  await page.getByRole('button', { name: 'Save title' }).click();
  await page.locator('#job-title', { hasText: 'Harbour at dusk, take two' }).waitFor();
  assert.match(await page.locator('#dl-mp4').getAttribute('download'), /^harbour-at-dusk-take-two-\d{4}-\d\d-\d\d-r2\.mp4$/);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'renamed without a reload');
  await shot(page, 'job-revision-desktop');

  step('My creations: search');
  const other = await page.evaluate(async () => (await fetch('/api/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ script: 'Mountains under fresh snow.', resolution: '480p', fps: 24 }) })).json());
  await page.goto(base + '/creations');
  await page.locator('#jobs-tools').waitFor({ state: 'visible' });
  await page.getByLabel('Search titles and scripts').fill('take two');
  await page.locator('#jobs-count', { hasText: '1 of 2 creations match.' }).waitFor();
  assert.ok(await page.locator(`#jobs li[data-job="${jobId}"]`).isVisible(), 'found by its title');
  assert.match(await page.locator(`#jobs li[data-job="${jobId}"] h2`).innerText(), /Harbour at dusk, take two/);
  await page.getByLabel('Search titles and scripts').fill('snow');
  await page.locator('#jobs-count', { hasText: '1 of 2 creations match.' }).waitFor();
  assert.ok(await page.locator(`#jobs li[data-job="${other.id}"]`).isVisible());
  assert.ok(await page.locator(`#jobs li[data-job="${jobId}"]`).isHidden());
  await page.getByLabel('Search titles and scripts').fill('');
  await page.getByLabel('Sort').selectOption('oldest');
  assert.equal(await page.locator('#jobs li').first().getAttribute('data-job'), jobId);
  await axeCheck(page, 'creations with search');
  await shot(page, 'creations-search-desktop');

  step('My uploads: previews and delete');
  await page.goto(base + '/uploads');
  await page.locator('#uploads[aria-busy="false"]').waitFor({ state: 'attached' });
  const harbourCard = page.locator(`#uploads li[data-upload="${harbourId}"]`);
  const spareCard = page.locator(`#uploads li[data-upload="${spareId}"]`);
  await harbourCard.waitFor();
  await page.waitForFunction((id) => { const img = document.querySelector(`#uploads li[data-upload="${id}"] img`); return img && img.complete && img.naturalWidth > 0; }, harbourId);
  assert.match(await harbourCard.innerText(), /Used by Harbour at dusk, take two/);
  assert.match(await spareCard.innerText(), /Not used by any creation/);
  await axeCheck(page, 'uploads');
  await shot(page, 'uploads-desktop');
  await spareCard.getByRole('button', { name: /^Delete image uploaded/ }).click();
  await spareCard.waitFor({ state: 'detached' });
  await page.locator('#uploads-status', { hasText: 'The image is deleted.' }).waitFor();
  assert.equal((await context.request.get(`${base}/api/v1/uploads/${spareId}`)).status(), 404);

  step('deleting the creation takes the uploads only it used, from the API and the export');
  await page.goto(jobUrl);
  await page.locator('#job[data-status="succeeded"]').waitFor();
  await page.getByRole('button', { name: 'Delete this creation' }).click();
  await page.waitForURL(/\/creations$/);
  assert.match(dialogs.at(-1), /Uploads that no other creation uses are deleted with it/);
  const uploads = await (await context.request.get(`${base}/api/v1/uploads?limit=100`)).json();
  assert.ok(!uploads.some((u) => u.id === harbourId), 'the harbour upload is gone from the list');
  assert.equal((await context.request.get(`${base}/api/v1/uploads/${harbourId}/content`)).status(), 404);
  await page.goto(base + '/uploads');
  await page.locator('#uploads[aria-busy="false"]').waitFor({ state: 'attached' });
  assert.equal(await page.locator(`#uploads li[data-upload="${harbourId}"]`).count(), 0);
  r = await context.request.post(`${base}/api/v1/me/exports`, { data: {} });
  assert.equal(r.status(), 202);
  let ready = null;
  for (let i = 0; i < 300 && !ready; i++) {
    const { items } = await (await context.request.get(`${base}/api/v1/me/exports`)).json();
    ready = items.find((x) => x.status === 'ready');
    if (!ready) await page.waitForTimeout(100);
  }
  assert.ok(ready, 'the export was built');
  const zip = await (await context.request.get(base + ready.download_url)).body();
  // Entry names are stored as plain text in a ZIP: the upload's file would be `uploads/<id>.png`.
  assert.ok(!zip.includes(Buffer.from(`uploads/${harbourId}`)), 'the export holds no file of the deleted upload');
  assert.ok(zip.includes(Buffer.from('uploads.json')), 'the export is a real archive');

  step('not-found pages');
  let nav = await page.goto(jobUrl);
  assert.equal(nav.status(), 404);
  assert.equal(await page.locator('h1').innerText(), 'This creation does not exist');
  assert.ok(await page.getByRole('link', { name: 'My creations' }).first().isVisible());
  await axeCheck(page, 'creation not found');
  await shot(page, 'not-found-creation-desktop');
  nav = await page.goto(base + '/no/such/page');
  assert.equal(nav.status(), 404);
  assert.equal(await page.locator('h1').innerText(), 'There is no page here');
  const api404 = await context.request.get(base + '/no/such/page', { headers: { Accept: 'application/json' } });
  assert.equal(api404.status(), 404);
  assert.equal((await api404.json()).code, 'not_found');

  step('sessions: browser, system, address, this session, and sign out everywhere else');
  const otherLogin = await fetch(base + '/api/v1/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0' },
    body: JSON.stringify({ email, password }),
  });
  assert.equal(otherLogin.status, 200);
  const otherCookie = otherLogin.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('reelsmith_session='));
  await page.goto(base + '/account');
  await page.locator('#sessions li').nth(1).waitFor();
  const mine = page.locator('#sessions li[data-current="true"]');
  assert.match(await mine.innerText(), /^Chrome.* on Linux this session · from \S+ · signed in/);
  assert.match(await page.locator('#sessions li[data-current="false"]').innerText(), /^Firefox on Windows · from \S+ · signed in/);
  await axeCheck(page, 'account sessions');
  await page.locator('#sessions-h').scrollIntoViewIfNeeded();
  await shot(page, 'account-sessions-desktop');
  await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
  await page.locator('#sessions-status', { hasText: 'Signed out of 1 other session.' }).waitFor();
  assert.equal(await page.locator('#sessions li').count(), 1);
  assert.ok(await page.getByRole('button', { name: 'Sign out everywhere else' }).isHidden());
  assert.equal((await fetch(base + '/api/v1/me', { headers: { Cookie: otherCookie } })).status, 401);
  assert.equal((await context.request.get(base + '/api/v1/me')).status(), 200);

  step('credits: the Note column at phone width');
  const phone = await browser.newContext({
    viewport: PHONE, deviceScaleFactor: 1, isMobile: true, hasTouch: true,
    storageState: await context.storageState(), colorScheme: 'dark',
  });
  const p2 = await phone.newPage();
  await p2.goto(base + '/credits');
  const note = p2.locator('#ledger tbody tr[data-kind="grant"] td.note').first();
  await note.waitFor();
  assert.ok((await note.innerText()).includes('sign-up grant'));
  const box = await note.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `the note is inside the screen: ${JSON.stringify(box)}`);
  const overflow = await p2.evaluate((w) => document.documentElement.scrollWidth - w, PHONE.width);
  assert.ok(overflow <= 1, `credits is wider than a phone by ${overflow}px`);
  await axeCheck(p2, 'credits (phone, dark)');
  await shot(p2, 'credits-phone');
  for (const [name, path] of [['uploads', '/uploads'], ['create', '/create']]) {
    await p2.goto(base + path);
    await p2.waitForLoadState('networkidle');
    const over = await p2.evaluate((w) => document.documentElement.scrollWidth - w, PHONE.width);
    assert.ok(over <= 1, `${name} is wider than a phone by ${over}px`);
    await shot(p2, `${name}-phone`);
  }
  await phone.close();

  assert.deepEqual(pageErrors, [], 'no script errors');
  step('passed');
} catch (err) {
  failed = true;
  console.error('newcomer: FAILED:', err && err.stack || err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
