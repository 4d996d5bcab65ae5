// The look in the studio (issue 25), in Debian's Chromium driven by playwright-core.
//
//   node tests/web/look.mjs <base-url> <screenshots-dir> <email> <password>
//
// Signs in; on the Create form opens "Caption style and preview", whose font list comes from
// the server's installed fonts and whose preview is a frame drawn by the server's renderer;
// changing the caption colour to red redraws it and the caption area turns red (read from the
// image's pixels, not from the form); a job submitted with that look stores exactly that caption
// style and transition. Checks accessibility with axe. Exits non-zero on failure.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeCheck, launch } from './support.mjs';

const [base, shots, email, password] = process.argv.slice(2);
if (!base || !shots || !email || !password) {
  console.error('usage: node look.mjs <base-url> <screenshots-dir> <email> <password>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const step = (name) => console.log(`look: ${name}`);

/** Pixels of the shown preview that are clearly red, and how many were read. */
async function redPixels(page) {
  return page.evaluate(() => {
    const img = document.querySelector('#look-preview img');
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let red = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] > 190 && data[i + 1] < 90 && data[i + 2] < 90) red += 1;
    }
    return { red, total: data.length / 4 };
  });
}

/** Waits for the next preview frame the page receives and shows. */
async function nextFrame(page, action) {
  const before = await page.locator('#look-preview img').getAttribute('src');
  const reply = page.waitForResponse((r) => r.url().endsWith('/api/v1/preview/frame'));
  await action();
  const r = await reply;
  assert.equal(r.status(), 200, await r.text());
  assert.equal(r.headers()['content-type'], 'image/png');
  await page.waitForFunction((prev) => {
    const img = document.querySelector('#look-preview img');
    return img && !img.hidden && img.src !== prev && img.complete && img.naturalWidth > 0;
  }, before, { timeout: 30_000 });
}

const browser = await launch();
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light', deviceScaleFactor: 1 });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  step('sign in');
  const login = await context.request.post(base + '/api/v1/auth/login', { data: { email, password } });
  assert.equal(login.status(), 200, await login.text());
  await page.goto(base + '/create');
  await page.locator('#script').fill('The harbour wakes at dawn. Boats leave one by one.');

  step('the caption style: fonts from the server, a preview from the renderer');
  await nextFrame(page, () => page.getByText('Caption style and preview').click());
  await page.waitForFunction(() => document.querySelectorAll('#caption-font option').length > 1);
  const fonts = await page.locator('#caption-font option').allInnerTexts();
  assert.ok(fonts.some((f) => /DejaVu/i.test(f)), `installed fonts listed: ${fonts.join(', ')}`);
  const white = await redPixels(page);
  assert.ok(white.total > 10_000, `a real frame: ${white.total} pixels`);
  await page.screenshot({ path: join(shots, 'look-default.png'), fullPage: true });

  step('a red caption colour redraws the frame with red captions');
  await page.locator('#captions').selectOption('karaoke');
  await nextFrame(page, () => page.locator('#caption-colour').fill('#ff0000'));
  const red = await redPixels(page);
  assert.ok(red.red > white.red + 200, `red captions drawn: ${white.red} red pixels before, ${red.red} after`);
  await page.locator('#caption-words').fill('3');
  await page.locator('#caption-background').check();
  await page.locator('#transition').selectOption('wipe');
  await page.screenshot({ path: join(shots, 'look-red.png'), fullPage: true });

  step('accessibility');
  await axeCheck(page, 'Create with the caption style open', (line) => console.log(`look: ${line}`));

  step('the job stores the look that was previewed');
  const submitted = page.waitForResponse((r) => r.url().endsWith('/api/v1/jobs') && r.request().method() === 'POST');
  await page.locator('#create-submit').click();
  assert.equal((await submitted).status(), 201);
  // The studio opens the new creation's page: its id is the last part of the address.
  await page.waitForURL(/\/creations\/[^/]+$/, { timeout: 30_000 });
  const id = new URL(page.url()).pathname.split('/').pop();
  const stored = await context.request.get(`${base}/api/v1/jobs/${id}`);
  assert.equal(stored.status(), 200);
  const params = (await stored.json()).params;
  assert.equal(params.transition, 'wipe');
  assert.equal(params.caption_style.colour, '#ff0000');
  assert.equal(params.caption_style.words_per_line, 3);
  assert.equal(params.caption_style.background, true);
  assert.equal(params.caption_style.size, undefined, 'an untouched field keeps the default');
  assert.deepEqual(pageErrors, []);
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
