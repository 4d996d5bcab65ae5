// The sign-in page's `next` in Debian's Chromium, driven by playwright-core: whatever `next`
// holds, signing in never leaves the site (the open redirect a hostile probe found, issue 24).
//
//   node tests/web/redirect.mjs <base-url> <screenshots-dir> <email> <password>
//
// The account exists already (crates/cli/tests/web_e2e.rs makes it). For each hostile `next`
// (the probe's inputs) signs in and checks the page lands on the studio's default page, that no
// request went to another origin and no script ran from `next`; a same-site `next` is followed,
// and a signed-out visit to a private page comes back to it. Exits non-zero on failure.

import { launch } from './support.mjs';
import assert from 'node:assert/strict';

const [base, , email, password] = process.argv.slice(2);
if (!base || !email || !password) {
  console.error('usage: node redirect.mjs <base-url> <screenshots-dir> <email> <password>');
  process.exit(2);
}
const origin = new URL(base).origin;
const step = (name) => console.log(`redirect: ${name}`);

// Each is put into the query as written (already percent-encoded where it says so).
const hostile = [
  '/%09/evil.example/phish', // the probe's: the browser drops the tab and reads //evil.example
  '/%0A/evil.example/phish',
  '/%0D%0A/evil.example/phish',
  '%09//evil.example/phish',
  '//evil.example/phish',
  '///evil.example/phish',
  '/%5Cevil.example/phish',
  '%5C%5Cevil.example/phish',
  '/%5C%09%5Cevil.example/phish',
  '%2F%2Fevil.example/phish',
  '%20//evil.example/phish',
  'https://evil.example/phish',
  'https:evil.example/phish',
  'javascript:alert(document.domain)',
  '%0Ajavascript:alert(document.domain)',
];

const browser = await launch();
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  // Every request that would leave the site is recorded and stopped.
  const left = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin !== origin) {
      left.push(url);
      return route.abort();
    }
    return route.continue();
  });
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  async function signInWith(query) {
    // Leave the studio first: a page still open there answers the cleared cookies' 401 by
    // sending the browser to /signin?next=<its own path>, which can overtake the goto below.
    await page.goto('about:blank');
    await context.clearCookies();
    await page.goto(`${base}/signin?${query}`);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Wait until the page is somewhere other than the sign-in page: the studio, or elsewhere.
    await page.waitForURL((u) => u.origin !== origin || u.pathname !== '/signin', { timeout: 15000 });
    await page.waitForLoadState('load');
    return new URL(page.url());
  }

  for (const next of hostile) {
    step(`next=${next}`);
    const landed = await signInWith(`next=${next}`);
    assert.equal(landed.origin, origin, `next=${next} left the site for ${landed.href}`);
    assert.equal(landed.pathname, '/create', `next=${next} should land on the default page`);
    assert.deepEqual(left, [], `next=${next} made requests to another origin`);
    assert.deepEqual(dialogs, [], `next=${next} ran a script`);
  }

  step('a same-site next is followed');
  const kept = await signInWith('next=%2Fcreations');
  assert.equal(kept.origin + kept.pathname, `${origin}/creations`);

  step('a signed-out visit to a private page comes back to it');
  await page.goto('about:blank');
  await context.clearCookies();
  await page.goto(`${base}/account`);
  await page.waitForURL((u) => u.pathname === '/signin');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/account');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === '/account');
  assert.deepEqual(left, []);
  assert.deepEqual(errors, [], 'no script errors');
  step('done');
} catch (err) {
  console.error(err);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
