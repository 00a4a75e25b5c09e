#!/usr/bin/env node
// An editor connects the organization's account to a remote server that needs sign-in,
// from the dashboard, in Chromium (issue 32). Run by
// crates/guidepost/tests/it/dashboard/connect_journey.rs:
//
//   node tests/e2e/connect_journey.mjs --base URL --outbox DIR --email ADDRESS
//       --upstream ID --remote-outbox DIR --remote-email ADDRESS --screenshots DIR
//       [--chromium /usr/bin/chromium]
//
// It signs in to the dashboard with the code from the platform's outbox, opens the
// upstream's page, presses Connect, follows the link it is given, signs in at the remote's authorization server with
// the code from the remote's outbox, allows access, and arrives on the platform's page
// that says which account is connected. axe-core checks the upstream page and that page.
//
// ONE JSON object on the last line of stdout:
//   {"titles": [...], "connected_text": str|null, "violations": [...],
//    "screenshots": [...], "error": str|null}
// Exit status: 0 success, 1 failure, 2 bad usage.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { codeSignIn, launch, photograph } from './chromium.mjs';

const { values: options } = parseArgs({
  options: {
    base: { type: 'string' },
    outbox: { type: 'string' },
    email: { type: 'string' },
    upstream: { type: 'string' },
    'remote-outbox': { type: 'string' },
    'remote-email': { type: 'string' },
    screenshots: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
const REQUIRED = ['base', 'outbox', 'email', 'upstream', 'remote-outbox', 'remote-email', 'screenshots'];
for (const required of REQUIRED) {
  if (!options[required]) {
    console.error(`missing --${required}`);
    process.exit(2);
  }
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// Generous: a shared 2-core machine may be slow; nothing here measures time.
const STEP_TIMEOUT = 60_000;
const report = { titles: [], connected_text: null, violations: [], screenshots: [], error: null };

/** Photographs the page; with `check`, records axe's serious and critical findings. */
async function visit(page, name, check) {
  await page.waitForLoadState('load');
  report.titles.push(await page.title());
  if (check) {
    await page.evaluate(AXE);
    // eslint-disable-next-line no-undef
    const result = await page.evaluate(() => axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'wcag22aa'] } }));
    report.violations.push(
      ...result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${name}: ${v.id}: ${v.help}`),
    );
  }
  const path = join(options.screenshots, `${report.screenshots.length + 1}-${name}.png`);
  await photograph(page, path);
  report.screenshots.push(path);
}

let browser;
try {
  browser = await launch(options.chromium, STEP_TIMEOUT);
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const base = new URL(options.base);

  await page.goto(new URL(`/app/sign-in?email=${encodeURIComponent(options.email)}`, base).href);
  await codeSignIn(page, { email: options.email, outbox: options.outbox, timeout: STEP_TIMEOUT });

  await page.goto(new URL(`/app/gateway/upstreams/${options.upstream}`, base).href);
  await visit(page, 'upstream', true);
  await page.getByRole('button', { name: /^Connect\b/ }).click();
  await page.waitForSelector('#continue-connect');
  await visit(page, 'continue', true);
  await page.click('#continue-connect');

  // The remote's own sign-in: its email page, its code, its consent.
  await page.waitForSelector('input[name="email"]');
  await visit(page, 'remote-sign-in', false);
  await page.fill('input[name="email"]', options['remote-email']);
  await codeSignIn(page, {
    email: options['remote-email'],
    outbox: options['remote-outbox'],
    timeout: STEP_TIMEOUT,
  });
  await page.waitForSelector('button[name="decision"][value="approve"]');
  await visit(page, 'remote-consent', false);
  await page.click('button[name="decision"][value="approve"]');

  await page.waitForURL(/\/connect\/callback/);
  await visit(page, 'connected', true);
  report.connected_text = (await page.locator('main').innerText()).trim();
} catch (error) {
  const page = browser?.context.pages()[0];
  const where = page ? ` (on ${page.url()}: ${(await page.locator('body').innerText().catch(() => '')).slice(0, 400)})` : '';
  report.error = `${error?.stack ?? error}${where}`;
} finally {
  await browser?.close();
}
console.log(JSON.stringify(report));
process.exit(report.error ? 1 : 0);
