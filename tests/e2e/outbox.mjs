// The mail outbox the tests point Guidepost at (`--mail-outbox`): one `.eml` file per
// mail. Shared by the browser tests (chromium.mjs) and the clients that sign in without a
// browser (ts_oauth_flow.mjs).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The one-time code of the newest mail to `address` since `notBefore` (its subject
 * starts with the code), waiting up to `timeout` ms for it. */
export async function codeFromOutbox(outbox, address, notBefore, timeout) {
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
