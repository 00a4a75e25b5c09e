#!/usr/bin/env node
// The dashboard's main journeys in a real browser: Debian's Chromium driven by
// `playwright-core`, once with JavaScript and once without (--javascript off). Run by
// crates/guidepost/tests/it/dashboard/browser.rs:
//
//   node tests/e2e/dashboard_journeys.mjs --base URL --outbox DIR --email ADDRESS
//       --slug SLUG --screenshots DIR --python PATH [--javascript on|off]
//       [--catalog-entry ID] [--chromium /usr/bin/chromium]
//
// Journeys, each through the pages a person uses (labels and buttons, no URLs typed but
// the first):
//   1. sign in by emailed code (read from the outbox), create a server, copy its install
//      snippet;
//   2. author a 3-step walkthrough, reorder it, preview unsaved text, publish it, assign
//      it to the server;
//   3. walk it with the official Python MCP client (tests/e2e/walkthrough_flow.py), then
//      see the funnel and the person's progress;
//   4. answer a support request (opened by the Python client, tests/e2e/open_support.py);
//   5. with --catalog-entry: install that upstream from the catalog, attach it to the
//      server, and approve its quarantined tool after reading its diff (the Rust test
//      changes the tool in between: once attached the script writes the file named by
//      --quarantine-signal and waits for `{that}.done`).
//   6. publish a policy that asks a member to approve one support request, have the
//      Python client call it (tests/e2e/connect_call.py: told it waits), approve it from
//      the Approvals queue, and call again (it runs);
//   7. then the pages no journey passes through (members, API keys, versions, webhooks,
//      audit log, a "not found" page), checked like the rest;
//
// On every page: axe-core (WCAG 2.0/2.1/2.2 A and AA tags) with JavaScript on, a 24×24
// px target-size check, no request to another origin, no CSP violation, a screenshot.
//
// ONE JSON object on the last line of stdout:
//   {"pages": [{"name", "title", "url", "screenshot", "violations": [...]}],
//    "ids": {...}, "foreign_requests": [...], "csp_violations": [...], "error": str|null}
// Exit status: 0 success, 1 failure, 2 bad usage.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { codeSignIn, launch, photograph } from './chromium.mjs';

const { values: options } = parseArgs({
  options: {
    base: { type: 'string' },
    outbox: { type: 'string' },
    email: { type: 'string' },
    slug: { type: 'string' },
    screenshots: { type: 'string' },
    python: { type: 'string' },
    javascript: { type: 'string', default: 'on' },
    'catalog-entry': { type: 'string' },
    'quarantine-signal': { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
for (const required of ['base', 'outbox', 'email', 'slug', 'screenshots', 'python']) {
  if (!options[required]) {
    console.error(`missing --${required}`);
    process.exit(2);
  }
}

const HERE = dirname(fileURLToPath(import.meta.url));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const JS = options.javascript !== 'off';
// Generous: a shared 2-core machine may be slow; nothing here measures time.
const STEP_TIMEOUT = 60_000;
const base = new URL(options.base);
const report = { pages: [], ids: {}, foreign_requests: [], csp_violations: [], error: null };

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

/** Checks the page, photographs it and records it under `name`. */
async function visit(page, name) {
  await page.waitForLoadState('load');
  const entry = { name, title: await page.title(), url: page.url(), violations: [] };
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
  entry.screenshot = join(
    options.screenshots,
    `${String(report.pages.length + 1).padStart(2, '0')}-${name}.png`,
  );
  await photograph(page, entry.screenshot);
  report.pages.push(entry);
  return entry;
}

/** Follows a link of the main navigation. */
async function nav(page, name) {
  const link = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  await link.click();
  await page.waitForLoadState('load');
}

/** Submits the form that holds `button` and waits for the page it leads to. */
async function press(page, button) {
  // A click waits for the navigation it starts to commit; then the page must load.
  const before = page.url();
  await button.click();
  await page.waitForLoadState('load');
  if (page.url() === before && !(await page.locator('main').count())) {
    throw new Error(`nothing happened after pressing on ${before}`);
  }
}

function python(script, args) {
  const run = spawnSync(options.python, [join(HERE, script), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  let parsed;
  try {
    parsed = JSON.parse(last);
  } catch {
    throw new Error(`${script} printed no JSON (exit ${run.status}): ${run.stdout}\n${run.stderr}`);
  }
  if (parsed.error || run.status !== 0) throw new Error(`${script}: ${parsed.error}`);
  return parsed;
}

async function signIn(page) {
  await page.goto(new URL(`/app/sign-in?email=${encodeURIComponent(options.email)}`, base).href);
  await visit(page, 'sign-in');
  await codeSignIn(page, {
    email: options.email,
    outbox: options.outbox,
    timeout: STEP_TIMEOUT,
    onCodePage: () => visit(page, 'sign-in-code'),
  });
  await visit(page, 'overview');
}

async function createServer(page) {
  await nav(page, 'Servers');
  await visit(page, 'servers');
  await page.getByRole('link', { name: 'New server' }).click();
  await visit(page, 'server-new');
  await page.getByLabel('Name', { exact: true }).fill(`Docs ${options.slug}`);
  await page.getByLabel('Slug').fill(options.slug);
  await page.getByLabel('Who may connect').selectOption('none');
  await press(page, page.getByRole('button', { name: 'Create server' }));
  await visit(page, 'server');
  report.ids.server_url = page.url();
  report.ids.mcp_url = (await page.locator('#path-url').textContent()).trim();
  const snippet = (await page.locator('#snippet-cursor').textContent()).trim();
  if (JS) {
    await page.getByRole('button', { name: 'Copy Cursor snippet' }).click();
    report.ids.copied = await page.evaluate(() => navigator.clipboard.readText());
    if (report.ids.copied.trim() !== snippet) throw new Error('the copy button copied something else');
  } else {
    report.ids.copied = snippet;
  }
}

async function authorWalkthrough(page) {
  await nav(page, 'Walkthroughs');
  await visit(page, 'walkthroughs');
  await page.getByLabel('Title', { exact: true }).fill('Set up the CLI');
  await press(page, page.getByRole('button', { name: 'Create walkthrough' }));
  await visit(page, 'walkthrough-editor-empty');
  report.ids.walkthrough_url = page.url();
  for (const [title, content] of [
    ['Install', 'Run `npm i -g acme`.'],
    ['Log in', 'Run `acme login`.'],
    ['Deploy', 'Run `acme deploy`.'],
  ]) {
    await page.getByLabel('Step title').fill(title);
    await page.getByLabel('Content (Markdown)').fill(content);
    await press(page, page.getByRole('button', { name: 'Add step' }));
  }
  await visit(page, 'walkthrough-editor');
  // Reorder by form: "Deploy" up one (Install, Deploy, Log in), then "Log in" to 1.
  await press(page, page.getByRole('button', { name: /^Move up\W*Deploy$/ }));
  await visit(page, 'walkthrough-moved');
  const logIn = page.locator('.step-list > li', {
    has: page.getByRole('heading', { name: /Log in$/ }),
  });
  await logIn.getByLabel('Position').fill('1');
  await press(page, logIn.getByRole('button', { name: /^Move to position\W*Log in$/ }));
  const titles = async () =>
    (await page.locator('.step-list > li h3').allTextContents()).map((t) =>
      t.trim().replace(/^\d+\.\s*/, ''),
    );
  if (JS) {
    // Drag and drop (the enhancement) submits the same form: "Deploy" onto the first
    // step, then back to 3 by the form.
    const step = (title) =>
      page.locator('.step-list > li', { has: page.getByRole('heading', { name: title }) });
    await step(/Deploy$/).locator('.drag-handle').dragTo(step(/Log in$/));
    await page.waitForLoadState('load');
    await page.locator('.notice').waitFor();
    report.ids.dragged_order = await titles();
    await step(/Deploy$/).getByLabel('Position').fill('3');
    await press(page, step(/Deploy$/).getByRole('button', { name: /^Move to position/ }));
  }
  report.ids.order = await titles();
  // Preview text that is not saved yet.
  await page.getByRole('link', { name: /Edit and preview step \d+, Install/ }).click();
  await page.getByLabel('Content (Markdown)').fill('Run **`npm i -g acme`** now.\u200b');
  await press(page, page.getByRole('button', { name: 'Preview' }));
  await visit(page, 'step-preview');
  report.ids.preview_bold = await page.locator('.preview strong').count();
  report.ids.preview_badge = await page.locator('.invisible-char').count();
  await press(page, page.getByRole('button', { name: 'Save step' }));
  // Publish after reading the diff.
  await page.goto(report.ids.walkthrough_url);
  await page.getByRole('link', { name: 'Review changes and publish' }).click();
  await visit(page, 'publish-review');
  await press(page, page.getByRole('button', { name: /^Publish version/ }));
  await visit(page, 'walkthrough-published');
  // Assign to the server.
  const row = page.locator('tr', { hasText: `Docs ${options.slug}` });
  await row.getByLabel('Enabled').check();
  await press(page, row.getByRole('button', { name: /Assign|Save/ }));
  await visit(page, 'walkthrough-assigned');
}

async function walkAndWatch(page) {
  const url = `${report.ids.mcp_url}?tracking_id=journey-${options.slug}`;
  report.ids.walked = python('walkthrough_flow.py', ['--url', url, '--mode', '2026-07-28']);
  await nav(page, 'Analytics');
  await visit(page, 'analytics');
  await page.getByRole('link', { name: 'Set up the CLI' }).click();
  await visit(page, 'funnel');
  report.ids.funnel_text = await page.locator('main').innerText();
  await nav(page, 'End users');
  await page.getByLabel('Tracking id').fill(`journey-${options.slug}`);
  await press(page, page.getByRole('button', { name: 'Find' }));
  await visit(page, 'end-users');
  await page.locator('main table a[href^="/app/end-users/"]').first().click();
  await visit(page, 'end-user');
  report.ids.end_user_text = await page.locator('main').innerText();
}

async function answerSupport(page) {
  const url = `${report.ids.mcp_url}?tracking_id=journey-${options.slug}`;
  python('open_support.py', ['--url', url, '--title', 'Deploy fails', '--email', 'dev@example.com']);
  await nav(page, 'Support');
  await visit(page, 'support-inbox');
  await page.getByRole('link', { name: 'Deploy fails' }).click();
  await visit(page, 'support-request');
  report.ids.support_url = page.url();
  await page.getByLabel('Status', { exact: true }).selectOption('resolved');
  await press(page, page.getByRole('button', { name: 'Change status' }));
  await visit(page, 'support-resolved');
}

async function reviewGateway(page) {
  const entry = options['catalog-entry'];
  await nav(page, 'Gateway');
  await visit(page, 'gateway');
  await page.getByRole('link', { name: 'Catalog', exact: true }).click();
  await page.waitForLoadState('load');
  await page.getByLabel('Search the catalog by name, description or tool name').fill(entry);
  await press(page, page.getByRole('button', { name: 'Search' }));
  await visit(page, 'catalog');
  await page.getByRole('link', { name: /^Install\W+Fixture$/ }).click();
  await visit(page, 'install');
  await press(page, page.getByRole('button', { name: /^Install\W+Fixture$/ }));
  await visit(page, 'upstream');
  report.ids.upstream_url = page.url();
  await page.getByLabel('Server').selectOption({ label: `Docs ${options.slug}` });
  await page.getByLabel('Prefix').fill('fx');
  await press(page, page.getByRole('button', { name: /^Attach/ }));
  await visit(page, 'upstream-attached');
  // The Rust test changes a tool's definition now; wait until it says it has.
  if (options['quarantine-signal']) {
    const signal = options['quarantine-signal'];
    const deadline = Date.now() + STEP_TIMEOUT;
    writeFileSync(signal, 'attached');
    while (!existsSync(`${signal}.done`)) {
      if (Date.now() > deadline) throw new Error('the tool change never came');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  await page.goto(new URL('/app/gateway/review', base).href);
  await visit(page, 'review-queue');
  await page.getByRole('link', { name: 'Review lookup' }).click();
  await visit(page, 'tool-review');
  report.ids.review_text = await page.locator('main').innerText();
  await press(page, page.getByRole('button', { name: /^Approve/ }));
  // A tool with findings of high severity asks first, Reject offered as the primary action.
  if (await page.getByRole('heading', { name: /despite its findings/ }).count()) {
    await visit(page, 'approve-confirm');
    await press(page, page.getByRole('button', { name: /^Approve .* anyway$/ }));
  }
  await visit(page, 'approved');
}

/** A call a policy asks a member to approve, approved from the queue, and retried. */
async function approveCall(page) {
  const policy = [
    'permit(principal, action, resource);',
    '@id("releases-need-a-member") @approval("member") @reason("releases are approved by a member.")',
    'forbid(principal, action, resource) when { resource.tool == "get_support"',
    '  && context.arguments.hasTag("title") && context.arguments.getTag("title") == "Release v2" };',
  ].join('\n');
  await nav(page, 'Gateway');
  await page.getByRole('link', { name: 'Policies', exact: true }).click();
  await page.waitForLoadState('load');
  await page.getByLabel('Policies (Cedar)').fill(policy);
  await press(page, page.getByRole('button', { name: 'Publish', exact: true }));
  await visit(page, 'policies');
  const url = `${report.ids.mcp_url}?tracking_id=journey-${options.slug}`;
  const call = JSON.stringify({ title: 'Release v2', problem_description: 'Ship it.', email: 'dev@example.com' });
  const args = ['--url', url, '--tool', 'get_support', '--arguments', call, '--no-elicitation'];
  report.ids.approval_asked = python('connect_call.py', args);
  await page.getByRole('link', { name: 'Approvals', exact: true }).click();
  await visit(page, 'approvals');
  report.ids.approval_text = await page.locator('main').innerText();
  await press(page, page.getByRole('button', { name: 'Approve this call' }));
  await visit(page, 'approvals-decided');
  report.ids.approval_retried = python('connect_call.py', args);
}

/** The pages no journey passes through, each checked and photographed like the rest. */
async function tour(page) {
  const pages = [
    ['members', '/app/members'],
    ['api-keys', '/app/api-keys'],
    ['versions', `${new URL(report.ids.walkthrough_url).pathname}/versions`],
    ['webhooks', '/app/support/webhooks'],
    ['audit-log', '/app/gateway/audit'],
    ['not-found', '/app/servers/ms_00000000000000000000'],
  ];
  for (const [name, path] of pages) {
    const response = await page.goto(new URL(path, base).href);
    const entry = await visit(page, name);
    entry.status = response.status();
  }
}

let browser;
try {
  browser = await launch(options.chromium, STEP_TIMEOUT, {
    javaScriptEnabled: JS,
    permissions: JS ? ['clipboard-read', 'clipboard-write'] : [],
    viewport: { width: 1280, height: 900 },
  });
  const { context } = browser;
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol.startsWith('http') && url.origin !== base.origin) {
      report.foreign_requests.push(request.url());
    }
  });
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) report.csp_violations.push(message.text());
  });
  await signIn(page);
  await createServer(page);
  await authorWalkthrough(page);
  await walkAndWatch(page);
  await answerSupport(page);
  if (options['catalog-entry']) await reviewGateway(page);
  await approveCall(page);
  await tour(page);
} catch (error) {
  report.error = error?.stack ?? String(error);
  // What the page offered when it failed, as a screen reader would hear it.
  const page = browser?.context.pages()[0];
  report.failed_page = page ? await page.locator('main').ariaSnapshot().catch(() => null) : null;
} finally {
  await browser?.close();
}
console.log(JSON.stringify(report));
process.exit(report.error ? 1 : 0);
