// The storyboard in the studio (issue 25), in Debian's Chromium against a server whose fal
// account is the fal fake (crates/cli/tests/web_e2e.rs starts both):
//
//   node tests/web/storyboard.mjs <base-url> <screenshots-dir> <email> <password>
//
// Signs in (consent for fal and Pexels was given through the API; the server's Pexels account is
// the Pexels fake), writes a three-scene script on the Create page for a fal model and opens it
// as a storyboard (three generated scenes, quoted at three shots, nothing reserved), replaces the
// first scene's picture with an upload (the quote drops by one shot), moves that scene one later
// with the keyboard, finds pictures for the last scene and picks the Pexels photo with the
// keyboard (its credit shows, the quote drops by another shot), checks the strip at phone width
// and with axe-core, renders, and checks the finished job's cost (the last quote), its captions
// and frames (the scenes in the new order) and the Pexels credit on the job page.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { axeCheck, launch, scriptErrors, signIn } from './support.mjs';

const [base, shots, email, password] = process.argv.slice(2);
if (!base || !shots || !email || !password) {
  console.error('usage: node storyboard.mjs <base-url> <screenshots-dir> <email> <password>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const step = (name) => console.log(`storyboard: ${name}`);
const MODEL = 'fal|fal-ai/kling-video/v2.1/master/text-to-video';
const SCENES = [
  'The red morning starts very slowly today.',
  'The green hills wake up under the sun.',
  'Brown rocks on the beach at sunset.',
];

/** A small PNG of one colour, made without any tool. */
function solidPng([r, g, b], width = 64, height = 36) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => { let x = 0xffffffff; for (const v of buf) x = crcTable[(x ^ v) & 0xff] ^ (x >>> 8); return (x ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set([r, g, b], y * (width * 3 + 1) + 1 + x * 3);
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const cost = async (page) => (await page.locator('#sb-cost').innerText()).trim();
const texts = (page) => page.locator('#scenes textarea').evaluateAll((ts) => ts.map((t) => t.value));

const browser = await launch();
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  const page = await context.newPage();
  const errors = scriptErrors(page);

  step('sign in');
  await signIn(page, base, email, password);
  const balanceBefore = (await (await page.request.get(base + '/api/v1/me/credits')).json()).balance;

  step('write a script and open it as a storyboard');
  await page.locator(`#model option[value="${MODEL}"]`).waitFor({ state: 'attached' });
  await page.locator('#script').fill(SCENES.join('\n\n'));
  await page.getByLabel('Engine and model').selectOption(MODEL);
  await page.getByLabel('Resolution').selectOption('480p');
  await page.getByRole('button', { name: 'Storyboard first' }).click();
  await page.waitForURL(/\/storyboards\/[^/]+$/);
  const id = page.url().split('/').pop();
  await page.locator('#storyboard[aria-busy="false"]').waitFor();
  assert.deepEqual(await texts(page), SCENES);
  assert.equal(await cost(page), '75 credits', 'three generated scenes, one 5 s shot each');
  assert.equal((await (await page.request.get(base + '/api/v1/me/credits')).json()).balance, balanceBefore,
    'a storyboard reserves nothing');
  await page.screenshot({ path: join(shots, 'storyboard-desktop.png'), fullPage: false });

  step("replace the first scene's picture with an upload");
  await page.getByLabel('Upload a picture for scene 1').setInputFiles({ name: 'red.png', mimeType: 'image/png', buffer: solidPng([230, 20, 20]) });
  await page.waitForFunction(() => document.querySelector('#sb-cost').textContent.trim() === '50 credits');
  const picture = await page.locator('li[data-scene="1"] img.sb-thumb').getAttribute('data-upload');
  assert.ok(picture, 'scene 1 shows the upload');

  step('move it one later with the keyboard');
  await page.getByRole('button', { name: 'Move later (scene 1)' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction((first) => document.querySelector('#scenes textarea').value === first, SCENES[1]);
  await page.locator('#storyboard[aria-busy="false"]').waitFor();
  assert.deepEqual(await texts(page), [SCENES[1], SCENES[0], SCENES[2]]);
  assert.equal(await page.locator('li[data-scene="2"] img.sb-thumb').getAttribute('data-upload'), picture);
  assert.equal(await cost(page), '50 credits');

  step("replace the last scene's picture with a stock photo");
  await page.getByRole('button', { name: 'Find pictures (scene 3)' }).click();
  const result = page.getByRole('button', { name: /^Use for scene 3: Pexels: Photo by Ana Costa on Pexels/ });
  await result.waitFor();
  const searched = await page.locator('.sb-terms').innerText();
  assert.match(searched, /^Searched for: .*beach.* \(words chosen by this server\)\.$/, searched);
  await result.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#sb-cost').textContent.trim() === '25 credits');
  await page.locator('#storyboard[aria-busy="false"]').waitFor();
  await page.locator('li[data-scene="3"] .sb-credit', { hasText: 'Photo by Ana Costa on Pexels' }).waitFor();
  assert.deepEqual(await texts(page), [SCENES[1], SCENES[0], SCENES[2]]);
  await axeCheck(page, 'storyboard', (line) => console.log(`storyboard: ${line}`));

  step('find video clips for a scene');
  const [clips] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/storyboard/scenes/1/pictures?kind=video')),
    page.getByRole('button', { name: 'Find clips (scene 2)' }).click(),
  ]);
  assert.equal(clips.status(), 200, await clips.text());
  await page.getByRole('region', { name: 'Pictures found for scene 2' }).waitFor();
  await page.locator('#sb-status', { hasText: 'found for scene 2 (clips from stock providers)' }).waitFor();
  assert.deepEqual(await texts(page), [SCENES[1], SCENES[0], SCENES[2]], 'a search changes nothing');

  step('the strip at phone width');
  await page.setViewportSize({ width: 390, height: 844 });
  const widths = await page.locator('#scenes > li').evaluateAll((lis) => lis.map((li) => li.getBoundingClientRect().width));
  assert.ok(widths.every((w) => w <= 390), `scenes fit the phone: ${widths}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no sideways scrolling: ${overflow}px`);
  await page.screenshot({ path: join(shots, 'storyboard-phone.png'), fullPage: false });
  await page.setViewportSize({ width: 1280, height: 800 });

  step('render');
  await page.getByRole('button', { name: 'Render' }).click();
  await page.waitForURL(new RegExp(`/creations/${id}$`));
  await page.waitForFunction(() => ['succeeded', 'failed', 'cancelled']
    .includes(document.querySelector('#job').dataset.status), null, { timeout: 180_000 });
  const status = await page.locator('#job').getAttribute('data-status');
  assert.equal(status, 'succeeded', `the job ended ${status}`);
  await page.locator('#job-cost', { hasText: '25 credits charged' }).waitFor();
  await page.locator('#job-credits li', { hasText: 'Photo by Ana Costa on Pexels' }).waitFor();
  await page.screenshot({ path: join(shots, 'storyboard-job-credits.png'), fullPage: true });

  step('the video has the scenes in the new order');
  const vtt = await (await page.request.get(`${base}/api/v1/jobs/${id}/captions.vtt`)).text();
  const at = (w) => { const i = vtt.indexOf(w); assert.ok(i >= 0, `${w} in the captions: ${vtt}`); return i; };
  assert.ok(at('green') < at('red') && at('red') < at('beach'), vtt);
  // The frames: the red upload is the middle scene, neither first nor last.
  const video = Buffer.from(await (await page.request.get(`${base}/api/v1/jobs/${id}/video`)).body());
  const dir = mkdtempSync(join(tmpdir(), 'sb-'));
  writeFileSync(join(dir, 'v.mp4'), video);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', join(dir, 'v.mp4'), '-vf', 'fps=4,scale=16:9',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 26 });
  const frames = [];
  for (let f = 0; f + 432 <= raw.length; f += 432) {
    const [r, g, b] = [0, 1, 2].map((c) => raw[f + (3 * 16 + 8) * 3 + c]);
    frames.push(r > 150 && g < 90 && b < 90 ? 'r' : '.');
  }
  const colours = frames.join('');
  assert.ok(/^\.+r+\.+$/.test(colours), `the red upload shows in the middle scene only: ${colours}`);
  const board = await (await page.request.get(`${base}/api/v1/jobs/${id}/storyboard`)).json();
  assert.equal(board.status, 'rendered');
  assert.deepEqual(board.scenes.map((s) => s.text), [SCENES[1], SCENES[0], SCENES[2]]);
  assert.deepEqual(board.scenes[1].visual, { kind: 'upload', id: picture });
  assert.equal(board.scenes[2].visual.kind, 'stock');
  assert.equal(board.scenes[2].visual.offer.attribution.text, 'Photo by Ana Costa on Pexels');
  const after = (await (await page.request.get(base + '/api/v1/me/credits')).json()).balance;
  assert.equal(after, balanceBefore - 25, 'exactly the last quote is charged');

  step('the creation links to the storyboard it was rendered from, shown and no longer editable');
  await page.getByRole('link', { name: 'See the storyboard it was rendered from' }).click();
  await page.waitForURL(new RegExp(`/storyboards/${id}$`));
  await page.locator('#storyboard[aria-busy="false"]').waitFor();
  assert.deepEqual(await texts(page), [SCENES[1], SCENES[0], SCENES[2]]);
  assert.ok(await page.locator('#sb-rendered').isVisible(), 'it says it was rendered');
  assert.equal(await page.locator('#sb-length-label').innerText(), 'Narrated length');
  const editable = await page.locator('#scenes textarea:enabled, #scenes button:enabled, #scenes select:enabled').count();
  assert.equal(editable, 0, 'nothing in a rendered storyboard can be changed');
  assert.ok(await page.locator('#sb-render').isDisabled());
  await axeCheck(page, 'rendered storyboard', (line) => console.log(`storyboard: ${line}`));

  assert.deepEqual(errors, [], 'no console errors');
  step('passed');
} catch (err) {
  failed = true;
  console.error('storyboard: FAILED:', err && err.stack || err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
