// Voices and music in the studio (issue 17), in Debian's Chromium driven by playwright-core.
//
//   node tests/web/sound.mjs <base-url> <screenshots-dir> <email> <password>
//
// Signs in; the Create form's voice picker is filled from the catalogue and plays a voice's
// sample; a cloud voice (ElevenLabs, at its fake) is listed with its price, plays its sample, and
// choosing it without consent shows the consent step and blocks submission; the music chooser lists the operator's library, plays a track's preview, and sets a
// level; a tiny job with that music renders to its end and its page shows the measured
// loudness, which the API reports within 1 LU of -14 LUFS. Exits non-zero on failure.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeCheck as axe, launch } from './support.mjs';

const [base, shots, email, password] = process.argv.slice(2);
if (!base || !shots || !email || !password) {
  console.error('usage: node sound.mjs <base-url> <screenshots-dir> <email> <password>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const step = (name) => console.log(`sound: ${name}`);

const axeCheck = (page, name) => axe(page, name, (line) => console.log(`sound: ${line}`));

/** Waits until the <audio> element has played past `seconds` of its source. */
async function played(page, selector, seconds) {
  await page.waitForFunction(([sel, s]) => {
    const a = document.querySelector(sel);
    return a && a.currentTime >= s && a.duration > s;
  }, [selector, seconds], { timeout: 30_000 });
}

const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
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

  step('voice picker: filled from the catalogue, plays a sample');
  await page.waitForFunction(() => document.querySelectorAll('#tts-voice option').length > 20);
  const voice = page.locator('#tts-voice');
  await voice.selectOption('fr');
  assert.match(await voice.locator('option:checked').innerText(), /^French .*espeak-ng.* free$/);
  const sample = page.waitForResponse((r) => r.url().endsWith('/api/v1/voices/fr/sample'));
  await page.getByRole('button', { name: 'Play a sample of this voice' }).click();
  const sampleReply = await sample;
  assert.equal(sampleReply.status(), 200);
  assert.equal(sampleReply.headers()['content-type'], 'audio/wav');
  await played(page, '#voice-audio', 0.5);

  step('voice picker: a cloud voice with its price, its sample, and the consent step');
  const cloud = voice.locator('option[data-provider="elevenlabs"]', { hasText: 'Rachel' });
  assert.match(await cloud.innerText(), /^Rachel \(ElevenLabs, en\) · female · 10 credits per 1000 characters · needs your consent$/);
  const cloudId = await cloud.getAttribute('value');
  await voice.selectOption(cloudId);
  const cloudSample = page.waitForResponse((r) => r.url().endsWith(`/api/v1/voices/${encodeURIComponent(cloudId)}/sample`));
  await page.getByRole('button', { name: 'Play a sample of this voice' }).click();
  const cloudReply = await cloudSample;
  assert.equal(cloudReply.status(), 200);
  assert.equal(cloudReply.headers()['content-type'], 'audio/mpeg');
  assert.ok((await cloudReply.body()).length > 1000, 'an MP3 sample');
  await page.locator('#script').fill('A quiet harbour at dawn.');
  const notice = page.locator('#consent-notice');
  await notice.waitFor({ state: 'visible' });
  assert.match(await notice.innerText(), /ElevenLabs's: jobs with it send your script to that company/);
  assert.equal(await notice.getByRole('link').getAttribute('href'), '/providers');
  await page.waitForFunction(() => document.querySelector('#create-submit').disabled
    && /consent for ElevenLabs/.test(document.querySelector('#submit-help').textContent));
  await voice.selectOption('en-us');
  await notice.waitFor({ state: 'hidden' });
  await page.locator('#pitch').fill('55');
  assert.equal(await page.locator('#pitch-out').innerText(), '55');

  step('music chooser: the library, a preview, a level');
  await page.waitForFunction(() => [...document.querySelectorAll('#music option')].some((o) => o.value === 'library:harbour-theme'));
  const preview = page.getByRole('button', { name: 'Preview this track' });
  assert.ok(await preview.isHidden(), 'no preview for "None"');
  await page.locator('#music').selectOption('library:harbour-theme');
  await preview.click();
  await played(page, '#music-audio', 0.5);
  await page.locator('#music-level').fill('-16');
  assert.equal(await page.locator('#music-level-out').innerText(), '−16');
  await axeCheck(page, 'create with voices and music');
  await page.screenshot({ path: join(shots, 'create-voice-music-desktop.png') });

  step('a job with music renders, and its page shows the loudness');
  await page.locator('#script').fill('A quiet harbour at dawn. The boats wake up one by one.');
  await page.locator('#resolution').selectOption('480p');
  await page.locator('#fps').selectOption('24');
  await page.waitForFunction(() => !document.querySelector('#create-submit').disabled);
  await page.locator('#create-submit').click();
  // The studio moves to the creation's page at once, so the job is read back from the API.
  await page.waitForURL(/\/creations\/[^/]+$/);
  const jobId = new URL(page.url()).pathname.split('/').pop();
  const job = await page.evaluate(async (id) => (await fetch('/api/v1/jobs/' + id)).json(), jobId);
  assert.equal(job.params.music, 'library:harbour-theme');
  assert.equal(job.params.music_level, -16);
  assert.equal(job.params.tts.pitch, 55);
  await page.waitForFunction(() => document.querySelector('#job').dataset.status === 'succeeded', null, { timeout: 180_000 });
  const loudness = page.locator('#job-loudness');
  await loudness.waitFor({ state: 'visible' });
  assert.match(await loudness.innerText(), /^Sound: -1[345]\.\d LUFS \(target -14\), true peak -?\d+\.\d dBTP · music at -16 dB, ducked 14 dB under the voice$/);
  const done = await (await context.request.get(`${base}/api/v1/jobs/${job.id}`)).json();
  assert.ok(Math.abs(done.usage.loudness.integrated_lufs + 14) <= 1, JSON.stringify(done.usage.loudness));
  assert.ok(done.usage.loudness.true_peak_dbtp <= -0.9, JSON.stringify(done.usage.loudness));
  assert.deepEqual(done.usage.music, { source: 'library', level_db: -16 });
  await page.screenshot({ path: join(shots, 'job-loudness-desktop.png') });

  assert.deepEqual(pageErrors, [], 'no script errors');
  step('passed');
} catch (e) {
  failed = true;
  console.log(`sound: FAILED: ${e.stack || e}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
