#!/usr/bin/env node
// Signs in through Guidepost's real sign-in pages in a real browser: Debian's Chromium
// driven by `playwright-core` (both pinned: the npm package in package.json, the browser
// installed by scripts/install-test-tools). Run by crates/guidepost/tests/it/browser.rs:
//
//   node tests/e2e/browser_sign_in.mjs --authorize-url URL --outbox DIR --email ADDRESS
//       --redirect-uri URI --screenshots DIR [--chromium /usr/bin/chromium]
//
// It opens the authorization URL, types the email, reads the one-time code from the
// newest .eml file for that address in the outbox, types it, and clicks "Allow" on the
// consent page. The browser's final navigation to the client's redirect URI is answered
// by the script itself (the client is not a real web server). A screenshot of each page
// goes to --screenshots.
//
// ONE JSON object on the last line of stdout:
//   {"callback": URL|null, "titles": [...], "screenshots": [...], "error": str|null}
// Exit status: 0 success, 1 failure, 2 bad usage.
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { codeSignIn, launch, photograph } from './chromium.mjs';

const { values: options } = parseArgs({
  options: {
    'authorize-url': { type: 'string' },
    outbox: { type: 'string' },
    email: { type: 'string' },
    'redirect-uri': { type: 'string' },
    screenshots: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
for (const required of ['authorize-url', 'outbox', 'email', 'redirect-uri', 'screenshots']) {
  if (!options[required]) {
    console.error(`missing --${required}`);
    process.exit(2);
  }
}

// Generous: a shared 2-core machine may be slow; nothing here measures time.
const STEP_TIMEOUT = 60_000;
const report = { callback: null, titles: [], screenshots: [], error: null };

async function snapshot(page, name) {
  const path = join(options.screenshots, `${report.screenshots.length + 1}-${name}.png`);
  await photograph(page, path);
  report.titles.push(await page.title());
  report.screenshots.push(path);
}

let browser;
try {
  browser = await launch(options.chromium, STEP_TIMEOUT);
  const { context } = browser;
  const page = context.pages()[0] ?? (await context.newPage());
  let arrived;
  const callback = new Promise((resolve) => (arrived = resolve));
  // The client's redirect URI: answered here, its URL kept.
  await context.route(`${options['redirect-uri']}**`, async (route) => {
    arrived(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'Signed in: back in the app.' });
  });

  await page.goto(options['authorize-url']);
  await page.waitForSelector('input[name="email"]');
  await snapshot(page, 'email');
  await page.fill('input[name="email"]', options.email);
  await codeSignIn(page, {
    email: options.email,
    outbox: options.outbox,
    timeout: STEP_TIMEOUT,
    onCodePage: () => snapshot(page, 'code'),
  });
  await page.waitForSelector('button[name="decision"][value="approve"]');
  await snapshot(page, 'consent');

  await page.click('button[name="decision"][value="approve"]');
  report.callback = await callback;
  await page.waitForLoadState('load');
  await snapshot(page, 'back-in-app');
} catch (error) {
  report.error = error?.stack ?? String(error);
} finally {
  await browser?.close();
}
console.log(JSON.stringify(report));
process.exit(report.error ? 1 : 0);
