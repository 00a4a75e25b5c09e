// What the browser tests share: Debian's Chromium launched by `playwright-core` with a
// throwaway profile, the one-time code read from the mail outbox, and signing in with it
// on Guidepost's code pages.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

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

/** The one-time code of the newest mail to `address` since `notBefore` (its subject
 * starts with the code), waiting up to `timeout` ms for it. */
async function codeFromOutbox(outbox, address, notBefore, timeout) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const mails = existsSync(outbox)
      ? readdirSync(outbox)
          .filter((name) => name.endsWith('.eml'))
          .map((name) => join(outbox, name))
          .filter((path) => statSync(path).mtimeMs >= notBefore)
          .map((path) => ({ text: readFileSync(path, 'utf8'), at: statSync(path).mtimeMs }))
          .filter((mail) => mail.text.toLowerCase().includes(`to: ${address.toLowerCase()}`))
          .sort((a, b) => a.at - b.at)
      : [];
    const subject = mails.at(-1)?.text.match(/^Subject: (\d{6,})\b/m);
    if (subject) return subject[1];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail to ${address} in ${outbox}`);
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
