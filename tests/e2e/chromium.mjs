// What the browser tests share: Debian's Chromium launched by `playwright-core` with a
// throwaway profile, and signing in on Guidepost's code pages with the one-time code
// read from the mail outbox (outbox.mjs).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { codeFromOutbox } from './outbox.mjs';

/** Launches headless Chromium in a fresh profile; `close()` ends it and removes the profile. */
export async function launch(executablePath, timeout, contextOptions = {}) {
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium is missing at ${executablePath}: run scripts/install-test-tools`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'guidepost-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    timeout,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    ...contextOptions,
  });
  context.setDefaultTimeout(timeout);
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** Signs in on Guidepost's code pages (the dashboard's, or a hosted server's sign-in) from
 * the page that holds the email: presses `emailButton`, then types the code mailed to
 * `email` (read from `outbox`, waiting up to `timeout` ms) and presses `codeButton`; the
 * page it leads to has loaded when it returns. `onCodePage` runs while the code page is
 * shown, to check or photograph it. `press(button)` submits a button's form and waits for
 * the page it leads to: by default a click, then the load; a script that goes on to
 * navigate at once (a run without JavaScript) passes one that waits for the navigation
 * itself, as the load can be the old page's. */
export async function codeSignIn(
  page,
  {
    email,
    outbox,
    timeout,
    emailButton = 'Email me a code',
    codeButton = 'Sign in',
    onCodePage,
    press = async (button) => {
      await button.click();
      await page.waitForLoadState('load');
    },
  },
) {
  const sentAt = Date.now() - 1000;
  await press(page.getByRole('button', { name: emailButton }));
  await page.waitForSelector('input[name="code"]');
  await page.waitForLoadState('load');
  if (onCodePage) await onCodePage();
  const code = await codeFromOutbox(outbox, email, sentAt, timeout);
  await page.fill('input[name="code"]', code);
  await press(page.getByRole('button', { name: codeButton }));
}

/** Photographs the whole page into `path`. Headless Chromium sometimes answers
 * "Unable to capture screenshot" when no frame is ready yet (seen on a loaded CI machine
 * with several browsers at once); the same page photographs fine a moment later, so a
 * capture fault is retried a few times. Any other error, or a fault that persists, fails. */
export async function photograph(page, path, attempts = 4) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await page.screenshot({ path, fullPage: true });
      return;
    } catch (error) {
      const transient = String(error?.message ?? error).includes('Unable to capture screenshot');
      if (!transient || attempt >= attempts) throw error;
      await page.waitForTimeout(250 * attempt);
    }
  }
}
