// KieAI jobs through the studio in Debian's Chromium (issue 22), against the KieAI fake that
// crates/cli/tests/web_e2e.rs starts and points the server at:
//
//   node tests/web/kie.mjs <base-url> <screenshots-dir> <email> <password>
//
// Signs in, gives consent for KieAI on the AI providers page, then creates one job on KieAI
// Veo 3.1 Fast and one on KieAI Kling 2.6 from the Create page, follows each to a playable
// video, and checks the creation page's cost (the quote, charged) and its transfer log (one
// request to KieAI, accepted, with its request id), and the Credits page's spend entries.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { launch, signIn } from './support.mjs';

const [base, shots, email, password] = process.argv.slice(2);
if (!base || !shots || !email || !password) {
  console.error('usage: node kie.mjs <base-url> <screenshots-dir> <email> <password>');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const step = (name) => console.log(`kie: ${name}`);

const browser = await launch();
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => errors.push(String(e)));

  step('sign in');
  await signIn(page, base, email, password);

  step('give consent for KieAI');
  await page.goto(base + '/providers');
  await page.locator('#providers[aria-busy="false"]').waitFor();
  await page.getByRole('button', { name: 'Give consent for KieAI' }).click();
  await page.locator('[data-provider="kie"][data-consent="granted"]').waitFor();

  let spent = 0;
  for (const [model, label, script] of [
    ['kie|veo3_fast', 'veo3_fast', 'A lighthouse blinks over a calm grey sea.'],
    ['kie|kling-2.6/text-to-video', 'kling-2.6/text-to-video', 'A paper boat drifts down a rainy street.'],
  ]) {
    step(`create a job on ${label}`);
    await page.goto(base + '/create');
    await page.locator(`#model option[value="${model}"]`).waitFor({ state: 'attached' });
    await page.locator('#script').fill(script);
    await page.getByLabel('Engine and model').selectOption(model);
    await page.getByLabel('Resolution').selectOption('720p');
    await page.waitForFunction(() => /\d+ credits? for 1 shot in 1 scene/.test(document.querySelector('#estimate-cost').textContent));
    const quote = Number((await page.locator('#estimate-cost').innerText()).match(/^(\d+)/)[1]);
    assert.ok(quote > 0, `a priced quote: ${quote}`);
    await page.waitForFunction(() => document.querySelector('#consent-notice').hidden);
    await page.getByRole('button', { name: 'Create video' }).click();
    await page.waitForURL(/\/creations\/[^/]+$/);

    step(`follow the ${label} job`);
    await page.waitForFunction(() => ['succeeded', 'failed', 'cancelled']
      .includes(document.querySelector('#job').dataset.status), null, { timeout: 180_000 });
    const status = await page.locator('#job').getAttribute('data-status');
    assert.equal(status, 'succeeded', `the job ended ${status}: ${await page.locator('#form-error').innerText().catch(() => '')}`);
    await page.waitForFunction(() => document.querySelector('#player').readyState >= 2, null, { timeout: 30_000 });

    step(`its charge and transfer log (${label})`);
    await page.locator('#job-cost', { hasText: `${quote} credits charged` }).waitFor();
    const rows = page.locator('#transfers tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 1, 'one request to the provider');
    const cells = await rows.first().locator('td').allInnerTexts();
    assert.equal(cells[2], 'kie');
    assert.equal(cells[3], label);
    assert.match(cells[4], /prompt \(\d+ characters\)/, 'what went out, described, not its content');
    assert.ok(!cells.join(' ').includes(script), 'the transfer log never shows the content');
    assert.ok(cells[5].length > 4, `a request id: ${cells[5]}`);
    assert.equal(cells[6], 'accepted');
    await page.screenshot({ path: join(shots, `kie-${label.split('/')[0]}-job-desktop.png`), fullPage: false });
    spent += quote;
  }

  step('the credits page shows both charges');
  await page.goto(base + '/credits');
  await page.locator('#balance', { hasText: `${100 - spent} credits` }).waitFor();
  assert.equal(await page.locator('#ledger tbody tr[data-kind="spend"]').count(), 2);

  assert.deepEqual(errors, [], 'no console errors');
  step('passed');
} catch (err) {
  failed = true;
  console.error('kie: FAILED:', err && err.stack || err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
