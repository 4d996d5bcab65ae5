// What the browser scripts share: Chromium launched the same way, the axe-core check, the
// collection of script errors and the sign-in. New scripts import it instead of copying it.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Debian's Chromium (or `$CHROMIUM`), headless, with nothing that calls home; `extra`
 * switches are added (the sound test lets audio play without a gesture). */
export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', ...extra],
  });
}

/** Fails on any serious or critical axe-core violation of the page as it stands. */
export async function axeCheck(page, name, log = console.log) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations) {
    log(`axe ${name}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  }
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.equal(bad.length, 0, `${name}: serious or critical accessibility violations: ${bad.map((v) => v.id).join(', ')}`);
}

/** The page's script errors (answers of 4xx that the studio handles are not errors). */
export function scriptErrors(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(`${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

/** Signs in through the sign-in page and waits for the Create page. */
export async function signIn(page, base, email, password) {
  await page.goto(base + '/signin?email=' + encodeURIComponent(email));
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/create$/);
}
