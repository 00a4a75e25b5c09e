#!/usr/bin/env node
// The dashboard's forms, layout and confirmations in a real browser: Debian's Chromium
// driven by `playwright-core`, once with JavaScript and once without (--javascript off).
// Run by crates/guidepost/tests/it/dashboard/browser_forms.rs:
//
//   node tests/e2e/dashboard_forms.mjs --base URL --outbox DIR --email ADDRESS
//       --setup FILE --screenshots DIR [--javascript on|off] [--chromium PATH]
//
// --setup names a JSON file: {"pages": [[name, path], …], "taken_slug", "server",
// "walkthrough", "upstream", "member"} (paths of the objects the test made).
//
//   1. every page at 1,440 and 390 px, in the light and (with JavaScript) the dark
//      scheme: no page-level horizontal scroll; axe-core clean (WCAG 2.0/2.1/2.2 A and
//      AA tags) and 24×24 px targets, with JavaScript; chart text height; the focus
//      ring's contrast; copy buttons and drag handles hidden without JavaScript;
//   2. at 390 px, refused forms: each comes back in the frame, with the message beside
//      its field and what was typed kept, opening at the error summary (which has the
//      focus and is on screen); and the attach form's pattern works;
//   3. every destructive action asks first (a dialog with JavaScript, the server's
//      confirmation page without), and Cancel changes nothing;
//   4. creating a key shows it once; reloading shows it no more and makes no other.
//
// ONE JSON object on the last line of stdout:
//   {"pages": [{"name", "width", "scheme", "overflow", "violations"}], "checks": {...},
//    "error": str|null}
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
    setup: { type: 'string' },
    screenshots: { type: 'string' },
    javascript: { type: 'string', default: 'on' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
for (const required of ['base', 'outbox', 'email', 'setup', 'screenshots']) {
  if (!options[required]) {
    console.error(`missing --${required}`);
    process.exit(2);
  }
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const JS = options.javascript !== 'off';
const STEP_TIMEOUT = 60_000;
const WIDTHS = [1440, 390];
const base = new URL(options.base);
const setup = JSON.parse(readFileSync(options.setup, 'utf8'));
const report = { pages: [], checks: { errors: [], asked: [] }, error: null };

/** Targets smaller than 24×24 px (WCAG 2.2 2.5.8), which axe does not check by default. */
function smallTargets() {
  const selector =
    'button, input:not([type=hidden]), select, textarea, nav a, a.button, summary';
  return [...document.querySelectorAll(selector)]
    .filter((el) => el.offsetParent !== null)
    .map((el) => ({ el, box: el.getBoundingClientRect() }))
    .filter(({ box }) => box.width < 24 || box.height < 24)
    .map(({ el, box }) => `${el.outerHTML.slice(0, 80)} is ${box.width}×${box.height}`);
}

/** What the page itself tells about its layout. */
function layout() {
  const root = document.documentElement;
  const texts = [...document.querySelectorAll('svg.chart text')].map(
    (t) => t.getBoundingClientRect().height,
  );
  const shown = (selector) =>
    [...document.querySelectorAll(selector)].filter((el) => el.offsetParent !== null).length;
  // What sticks out, outermost first, to say where a sideways scroll comes from.
  const wider = [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > root.clientWidth + 0.5)
    .filter((el) => !el.parentElement.closest('table, pre, .chart-box'))
    .slice(0, 5)
    .map((el) => `${el.tagName.toLowerCase()}.${el.className} → ${Math.round(el.getBoundingClientRect().right)}`);
  // Table cells broken inside a number, name or id: a cell's word (text without spaces:
  // a number, a tool's name, an id) laid out on more than one line.
  const lines = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
  };
  const broken = [...document.querySelectorAll('td.num, th.num, td code, th code')]
    .filter((el) => el.offsetParent !== null)
    .filter((el) => {
      const text = el.textContent.trim();
      return text !== '' && !/\s/.test(text) && lines(el) > 1;
    })
    .slice(0, 5)
    .map((el) => el.textContent.trim().slice(0, 40));
  return {
    overflow: root.scrollWidth > root.clientWidth,
    brokenCells: broken,
    wider,
    scrollWidth: root.scrollWidth,
    chartText: texts.length ? Math.min(...texts) : null,
    inertControls: shown('button[data-copy]') + shown('.drag-handle'),
  };
}

/** The contrast of the focused element's outline against the page behind it. */
function focusContrast() {
  const rgb = (text) => (text.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const focused = document.activeElement;
  const style = getComputedStyle(focused);
  if (style.outlineStyle === 'none' || parseFloat(style.outlineWidth) < 2) return 0;
  const ring = luminance(rgb(style.outlineColor));
  const page = luminance(rgb(getComputedStyle(document.body).backgroundColor));
  const [light, dark] = ring > page ? [ring, page] : [page, ring];
  return (light + 0.05) / (dark + 0.05);
}

/** Checks the page as it is now and records it. */
async function check(page, name, width, scheme) {
  await page.waitForLoadState('load');
  const entry = { name, width, scheme, url: page.url(), violations: [], ...(await page.evaluate(layout)) };
  if (JS) {
    await page.evaluate(AXE);
    const result = await page.evaluate(() =>
      // eslint-disable-next-line no-undef
      axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      }),
    );
    entry.violations = result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
    entry.violations.push(...(await page.evaluate(smallTargets)));
  }
  if (width === 390) {
    entry.screenshot = join(options.screenshots, `${name}-${width}-${scheme}.png`);
    await photograph(page, entry.screenshot);
  }
  report.pages.push(entry);
  return entry;
}

/** Submits the form that holds `button`; the status of the page it leads to. */
async function press(page, button) {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    button.click(),
  ]);
  return response ? response.status() : null;
}

async function go(page, path) {
  const response = await page.goto(new URL(path, base).href);
  return response.status();
}

async function signIn(page) {
  await go(page, `/app/sign-in?email=${encodeURIComponent(options.email)}`);
  await codeSignIn(page, {
    email: options.email,
    outbox: options.outbox,
    timeout: STEP_TIMEOUT,
    press: (button) => press(page, button),
  });
}

async function walkPages(page) {
  const schemes = JS ? ['light', 'dark'] : ['light'];
  report.checks.focus = {};
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    for (const scheme of schemes) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [name, path] of setup.pages) {
        await go(page, path);
        await check(page, name, width, scheme);
      }
      // The focus ring, reached by keyboard: the skip link, then the brand link.
      await go(page, '/app/servers');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      report.checks.focus[`${width}-${scheme}`] = await page.evaluate(focusContrast);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/** Submits a form filled by `fill` and records how its refusal came back. */
async function refused(page, form, path, fill, button, errorId, kept) {
  await go(page, path);
  await fill();
  const status = await press(page, button);
  const beside = page.locator(`#${errorId}`);
  const entry = {
    form,
    status,
    beside: (await beside.count()) ? (await beside.innerText()).trim() : null,
    kept: {},
    framed: (await page.getByRole('navigation', { name: 'Main' }).count()) === 1,
    summary: (await page.locator('.error-summary a').count()) === 1,
    // The page opens where the error is: the summary has the focus and is on screen.
    in_view: await page.locator('.error-summary').first().evaluate((summary) => {
      const box = summary.getBoundingClientRect();
      const focused = document.activeElement === summary;
      return focused && box.top >= 0 && box.bottom <= window.innerHeight;
    }).catch(() => false),
  };
  for (const [selector, value] of Object.entries(kept)) {
    entry.kept[selector] = (await page.locator(selector).inputValue()) === value;
  }
  await check(page, `refused-${form}`, 390, 'light');
  report.checks.errors.push(entry);
}

async function refusedForms(page) {
  await page.setViewportSize({ width: 390, height: 900 });
  await refused(
    page,
    'server-slug',
    '/app/servers/new',
    async () => {
      await page.getByLabel('Name', { exact: true }).fill('Kept name');
      await page.getByLabel('Slug').fill(setup.taken_slug);
    },
    page.getByRole('button', { name: 'Create server' }),
    'slug-error',
    { '#name': 'Kept name', '#slug': setup.taken_slug },
  );
  await refused(
    page,
    'custom-domain',
    setup.server,
    async () => {
      await page.getByLabel('Product name (optional)').fill('Kept product');
      await page.getByLabel('Custom domain (optional)').fill('not a domain');
    },
    page.getByRole('button', { name: 'Save settings' }),
    'custom_domain-error',
    { '#product_name': 'Kept product', '#custom_domain': 'not a domain' },
  );
  await refused(
    page,
    'last-owner',
    '/app/members',
    async () => {
      await page.getByLabel(`Role of ${options.email}`).selectOption('viewer');
    },
    page
      .locator('tr', { hasText: options.email })
      .getByRole('button', { name: 'Set role' }),
    `${await ownRoleSelect(page)}-error`,
    {},
  );
  await refused(
    page,
    'api-key',
    '/app/api-keys',
    async () => {
      await page.getByLabel('Name', { exact: true }).fill('   ');
    },
    page.getByRole('button', { name: 'Create key' }),
    'key-name-error',
    { '#key-name': '   ' },
  );
  await refused(
    page,
    'catalog-entry',
    '/app/gateway/catalog',
    async () => {
      await page.getByLabel('Entry id').fill('kept-entry');
      await page.getByLabel('Name', { exact: true }).fill('Kept entry');
      await page.getByLabel('Server URL (remote server)').fill('http://mcp.kept.example/mcp');
    },
    page.getByRole('button', { name: 'Add entry' }),
    'entry-url-error',
    { '#entry-name': 'Kept entry', '#entry-url': 'http://mcp.kept.example/mcp' },
  );
  await refused(
    page,
    'walkthrough-import',
    '/app/walkthroughs',
    async () => {
      await page.locator('#import-file').setInputFiles({
        name: 'notes.json',
        mimeType: 'application/json',
        buffer: Buffer.from('not json'),
      });
      await page.getByLabel('Key (optional)').fill('kept-key');
    },
    page.getByRole('button', { name: 'Import walkthrough' }),
    'import-file-error',
    { '#import-key': 'kept-key' },
  );
  // The attach form's pattern is one Chromium applies (a v-flag pattern it rejects is
  // ignored, and the field would pass).
  await go(page, setup.upstream);
  const prefix = page.locator('#attach-prefix');
  await prefix.fill('no spaces allowed');
  report.checks.attach_pattern_applies = await prefix.evaluate(
    (input) => input.validity.patternMismatch,
  );
}

/** The id of the signed-in owner's role select on the members page. */
async function ownRoleSelect(page) {
  await go(page, '/app/members');
  return page.getByLabel(`Role of ${options.email}`).getAttribute('id');
}

/**
 * Presses a destructive action's button and records how it asked: a dialog (dismissed,
 * then accepted) with JavaScript, the server's confirmation page (Cancel, then confirm)
 * without. `stillThere` says whether the object is still there after the Cancel.
 */
async function asksFirst(page, action, path, button, confirmButton, stillThere) {
  await go(page, path);
  const entry = { action, how: null, message: null, kept_after_cancel: null, done: false };
  if (JS) {
    const dialog = new Promise((resolve) => page.once('dialog', resolve));
    const click = page.getByRole('button', { name: button }).click();
    const shown = await dialog;
    entry.how = 'dialog';
    entry.message = shown.message();
    await shown.dismiss();
    await click;
    entry.kept_after_cancel = await stillThere();
    await go(page, path);
    page.once('dialog', (again) => again.accept());
    await press(page, page.getByRole('button', { name: button }));
  } else {
    await press(page, page.getByRole('button', { name: button }));
    entry.how = (await page.locator('input[name=confirm][value=yes]').count()) ? 'page' : null;
    entry.message = (await page.locator('#confirm-message').innerText()).trim();
    await check(page, `confirm-${action}`, 390, 'light');
    await press(page, page.getByRole('link', { name: 'Cancel' }));
    entry.kept_after_cancel = await stillThere();
    await go(page, path);
    await press(page, page.getByRole('button', { name: button }));
    await press(page, page.getByRole('button', { name: confirmButton }));
  }
  entry.done = (await page.locator('p.notice[role=status]').count()) === 1;
  report.checks.asked.push(entry);
}

async function destructiveActions(page) {
  const listed = (path, text) => async () => {
    await go(page, path);
    return (await page.locator('main').innerText()).includes(text);
  };
  const exists = (path) => async () => (await go(page, path)) === 200;
  await go(page, '/app/api-keys');
  await page.getByLabel('Name', { exact: true }).fill('doomed key');
  await press(page, page.getByRole('button', { name: 'Create key' }));
  await asksFirst(
    page,
    'revoke-key',
    '/app/api-keys',
    /^Revoke\W+doomed key$/,
    'Revoke key',
    async () => {
      await go(page, '/app/api-keys');
      const row = page.locator('tr', { hasText: 'doomed key' });
      return (await row.getByRole('button', { name: /^Revoke/ }).count()) === 1;
    },
  );
  await asksFirst(
    page,
    'remove-member',
    '/app/members',
    new RegExp(`^Remove\\W+${setup.member.replace(/[.@]/g, '\\$&')}$`),
    'Remove member',
    listed('/app/members', setup.member),
  );
  await asksFirst(
    page,
    'delete-walkthrough',
    setup.walkthrough,
    'Delete walkthrough',
    'Delete walkthrough',
    exists(setup.walkthrough),
  );
  await asksFirst(
    page,
    'uninstall-upstream',
    setup.upstream,
    /^Uninstall\W/,
    'Uninstall',
    exists(setup.upstream),
  );
  await asksFirst(
    page,
    'delete-server',
    setup.server,
    'Delete server',
    'Delete server',
    exists(setup.server),
  );
}

async function keyShownOnce(page) {
  const name = `once ${options.javascript}`;
  await go(page, '/app/api-keys');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await press(page, page.getByRole('button', { name: 'Create key' }));
  const shown = await page.locator('#new-key').count();
  await page.reload();
  await page.waitForLoadState('load');
  report.checks.key = {
    shown_first: shown === 1,
    shown_after_reload: (await page.locator('#new-key').count()) > 0,
    rows: await page.locator('tr', { hasText: name }).count(),
  };
}

let browser;
try {
  browser = await launch(options.chromium, STEP_TIMEOUT, {
    javaScriptEnabled: JS,
    viewport: { width: WIDTHS[0], height: 900 },
  });
  const page = await browser.context.newPage();
  await signIn(page);
  await walkPages(page);
  await refusedForms(page);
  await keyShownOnce(page);
  await destructiveActions(page);
} catch (error) {
  report.error = `${error.stack || error}`;
} finally {
  if (browser) await browser.close();
}
console.log(JSON.stringify(report));
process.exit(report.error ? 1 : 0);
