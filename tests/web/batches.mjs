// Presets and batches in the studio (issue 25), in Debian's Chromium against `reelsmith serve`
// (crates/cli/tests/web_e2e.rs starts it):
//
//   node tests/web/batches.mjs <base-url> <screenshots-dir> <email> <password>
//
// Signs in, saves the Create form's settings as a preset and sees the picker fill the form from
// it, then uploads a CSV file of two scripts (one with a quoted comma and line break) on the
// batch page, picks the preset, sees the whole quote, submits, and follows the batch's progress
// page listing both jobs with their states; checks the pages with axe-core and at phone width.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeCheck, launch, scriptErrors, signIn } from './support.mjs';

const [base, shots, email, password] = process.argv.slice(2);
if (!base || !shots || !email || !password) {
  console.error('usage: node batches.mjs <base-url> <screenshots-dir> <email> <password>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const step = (name) => console.log(`batches: ${name}`);

const CSV = 'title,script\n"Dawn, part one","The harbour wakes up slowly.\nGulls circle the nets."\nDusk,The boats come home.\n';

const browser = await launch();
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  const page = await context.newPage();
  const errors = scriptErrors(page);

  step('sign in');
  await signIn(page, base, email, password);

  step('save the form as a preset, and fill the form from a template and back');
  await page.getByLabel('Aspect', { exact: true }).selectOption('1:1');
  await page.getByLabel('Resolution').selectOption('480p');
  await page.getByLabel('Save these settings as a preset named').fill('Tiny square');
  await page.getByRole('button', { name: 'Save as preset' }).click();
  await page.waitForFunction(() => document.querySelector('#preset-status').textContent.includes('Saved as'));
  const presets = await (await page.request.get(base + '/api/v1/presets')).json();
  const mine = presets.find((p) => p.name === 'Tiny square');
  assert.ok(mine && !mine.read_only, 'the preset is stored');
  assert.equal(mine.settings.aspect, '1:1');
  assert.equal(mine.settings.resolution, '480p');
  assert.equal(mine.settings.script, undefined, 'a preset holds no script');
  await page.locator('#script').fill('Kept while a preset is applied.');
  await page.getByLabel('Preset', { exact: true }).selectOption('template:documentary');
  assert.equal(await page.getByLabel('Aspect', { exact: true }).inputValue(), '16:9');
  assert.equal(await page.getByLabel('Style', { exact: true }).inputValue(), 'cinematic');
  assert.equal(await page.locator('#script').inputValue(), 'Kept while a preset is applied.');
  await page.getByLabel('Preset', { exact: true }).selectOption(mine.id);
  assert.equal(await page.getByLabel('Aspect', { exact: true }).inputValue(), '1:1');

  step('upload a CSV of scripts, pick the preset, see the whole quote');
  await page.goto(base + '/batches');
  await page.locator(`#batch-preset option[value="${mine.id}"]`).waitFor({ state: 'attached' });
  await page.getByLabel('Preset').selectOption(mine.id);
  await page.getByLabel('Scripts file (CSV or JSON)').setInputFiles({ name: 'scripts.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) });
  await page.waitForFunction(() => document.querySelector('#batch-summary').textContent.includes('2 scripts'));
  await page.locator('#batch-submit:not([disabled])').waitFor();
  assert.equal((await page.locator('#batch-cost').innerText()).trim(), 'Free: the studio engine runs on this server');
  assert.deepEqual(await page.locator('#batch-scripts strong').allInnerTexts(), ['Dawn, part one', 'Dusk']);
  await axeCheck(page, 'batch upload');
  await page.screenshot({ path: join(shots, 'batches-upload.png'), fullPage: false });

  step('submit and follow the progress page');
  await page.getByRole('button', { name: 'Create all' }).click();
  await page.waitForURL(/\/batches\/[^/]+$/);
  const id = page.url().split('/').pop();
  await page.locator('#batch[aria-busy="false"]').waitFor();
  assert.deepEqual(await page.locator('#batch-jobs a').allInnerTexts(), ['Dawn, part one', 'Dusk']);
  assert.match(await page.locator('#batch-counts').innerText(), /^2 videos: /);
  const batch = await (await page.request.get(`${base}/api/v1/batches/${id}`)).json();
  assert.equal(batch.jobs.length, 2);
  assert.equal(batch.jobs[0].params.script, 'The harbour wakes up slowly.\nGulls circle the nets.');
  for (const job of batch.jobs) {
    assert.equal(job.params.aspect, '1:1');
    assert.equal(job.params.resolution, '480p');
  }
  await axeCheck(page, 'batch progress');
  await page.setViewportSize({ width: 375, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the progress page fits a phone (${overflow}px too wide)`);
  await page.screenshot({ path: join(shots, 'batches-progress-phone.png'), fullPage: false });

  assert.deepEqual(errors, [], 'no script errors');
  step('ok');
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
