#!/usr/bin/env node
// The whole MCP authorization flow with the official TypeScript client
// (`@modelcontextprotocol/client`, pinned in package.json), headless.
//
// Run by crates/guidepost/tests/it/node_oauth.rs with Node 22:
//
//   node tests/e2e/ts_oauth_flow.mjs --url http://127.0.0.1:PORT/s/acme/mcp --outbox DIR
//       --email ada@example.com [--modes auto,legacy] [--walkthrough-id wt_…]
//
// The client's `OAuthClientProvider` (implemented here, in memory) meets a 401, discovers
// the protected resource and the authorization server, registers (RFC 7591), and asks to
// redirect the user agent to the authorization URL. That is where this script plays the
// person, the way a browser without JavaScript would: it opens the URL, lands on the login
// page, posts the email with the page's CSRF token, reads the one-time code from the newest
// `.eml` file for that address in the outbox, posts the code and approves on the consent
// page. The client's connect then fails with UnauthorizedError, as it does when a browser
// is sent away; the script hands the callback's parameters to `transport.finishAuth`
// (which checks `iss`, RFC 9207, and exchanges the code) and connects again.
//
// Then, for each mode (one provider: the second connection reuses the token), it lists the
// tools and calls `get_support` (and `select_walkthrough` when given) as the signed-in
// person. `auto` negotiates 2026-07-28; `legacy` is the 2025 initialize handshake.
//
// ONE JSON object on the LAST line of stdout:
//   {"authorizations": n, "registered": bool, "client_id": str|null, "callback": {...}|null,
//    "modes": {MODE: {"protocol_version", "tools", "support", "walkthrough"}}, "error": str|null}
import { parseArgs } from 'node:util';

import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';

import { codeFromOutbox } from './outbox.mjs';

const { values: options } = parseArgs({
  options: {
    url: { type: 'string' },
    outbox: { type: 'string' },
    email: { type: 'string' },
    modes: { type: 'string', default: 'auto,legacy' },
    'walkthrough-id': { type: 'string' },
  },
});
if (!options.url || !options.outbox || !options.email) {
  console.error('usage: ts_oauth_flow.mjs --url URL --outbox DIR --email ADDRESS [--modes auto,legacy]');
  process.exit(2);
}

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const out = { authorizations: 0, registered: false, client_id: null, callback: null, modes: {}, error: null };

/** A browser without JavaScript: cookies kept, redirects taken one at a time. */
class Person {
  constructor(email) {
    this.email = email;
    this.cookies = new Map();
  }

  async request(url, init = {}) {
    const headers = { ...(init.headers ?? {}) };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      this.cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    return { status: response.status, location: response.headers.get('location'), body: await response.text() };
  }

  post(url, fields) {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  static action(page, ending) {
    const found = [...page.matchAll(/action="([^"]+)"/g)].map((m) => m[1]).find((a) => a.endsWith(ending));
    if (!found) throw new Error(`no form posting to ${ending} on the page:\n${page.slice(0, 2000)}`);
    return found.replaceAll('&amp;', '&');
  }

  static csrf(page) {
    const found = page.match(/name="csrf_token" value="([^"]+)"/);
    if (!found) throw new Error(`no CSRF field on the page:\n${page.slice(0, 2000)}`);
    return found[1];
  }

  /** Signs in and approves; returns the URL the browser is sent back to. */
  async signIn(authorizationUrl) {
    const expect = (answer, what) => {
      if (answer.status !== 303) throw new Error(`${what} answered ${answer.status}: ${answer.body.slice(0, 500)}`);
      return answer.location;
    };
    const login = expect(await this.request(authorizationUrl), 'authorize');
    let page = (await this.request(login)).body;
    const sentAt = Date.now() - 1000;
    expect(await this.post(Person.action(page, '/email'), { csrf_token: Person.csrf(page), email: this.email }), 'the email');
    page = (await this.request(login)).body;
    const code = await codeFromOutbox(options.outbox, this.email, sentAt, 10_000);
    expect(await this.post(Person.action(page, '/code'), { csrf_token: Person.csrf(page), code }), 'the code');
    page = (await this.request(login)).body;
    if (!page.toLowerCase().includes(this.email.toLowerCase())) throw new Error('the consent page does not name the person');
    const back = expect(
      await this.post(Person.action(page, '/consent'), { csrf_token: Person.csrf(page), decision: 'approve' }),
      'consent',
    );
    if (!back.startsWith(REDIRECT_URI)) throw new Error(`sent back to ${back}, not the redirect URI`);
    return back;
  }
}

/** The client's OAuth state, in memory: one registration, one token set. */
class MemoryProvider {
  constructor(person) {
    this.person = person;
    this.client = undefined;
    this.stored = undefined;
    this.verifier = undefined;
    this.callbackUrl = undefined;
    this.expectedState = undefined;
  }

  get redirectUrl() {
    return REDIRECT_URI;
  }

  get clientMetadata() {
    return {
      client_name: 'Guidepost e2e (TypeScript)',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.expectedState = `st-${Math.random().toString(36).slice(2)}`;
    return this.expectedState;
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info) {
    this.client = info;
  }

  tokens() {
    return this.stored;
  }

  saveTokens(tokens) {
    this.stored = tokens;
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }

  async redirectToAuthorization(url) {
    out.authorizations += 1;
    this.callbackUrl = await this.person.signIn(url.toString());
  }
}

async function connect(provider, mode) {
  const client = new Client({ name: 'guidepost-e2e-ts-oauth', version: '1.0.0' }, { versionNegotiation: { mode } });
  const transport = new StreamableHTTPClientTransport(new URL(options.url), { authProvider: provider });
  try {
    await client.connect(transport);
    return client;
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || !provider.callbackUrl) throw error;
    // The person was sent to the browser and came back: finish, then connect again.
    const params = new URL(provider.callbackUrl).searchParams;
    out.callback = { state: params.get('state'), iss: params.get('iss'), error: params.get('error') };
    if (params.get('state') !== provider.expectedState) throw new Error('the state came back changed');
    await transport.finishAuth(params);
    provider.callbackUrl = undefined;
    await client.close().catch(() => {});
    const again = new Client({ name: 'guidepost-e2e-ts-oauth', version: '1.0.0' }, { versionNegotiation: { mode } });
    await again.connect(new StreamableHTTPClientTransport(new URL(options.url), { authProvider: provider }));
    return again;
  }
}

try {
  const provider = new MemoryProvider(new Person(options.email));
  for (const mode of options.modes.split(',').filter(Boolean)) {
    const report = { protocol_version: null, tools: [], support: null, walkthrough: null };
    out.modes[mode] = report;
    const client = await connect(provider, mode);
    try {
      report.protocol_version = client.getNegotiatedProtocolVersion() ?? null;
      report.tools = (await client.listTools()).tools.map((tool) => tool.name);
      const support = await client.callTool({
        name: 'get_support',
        arguments: { title: `Signed in (${mode})`, problem_description: 'Sent by the TypeScript OAuth e2e test.' },
      });
      report.support = { is_error: support.isError ?? false, structured: support.structuredContent ?? null };
      if (options['walkthrough-id']) {
        const selected = await client.callTool({
          name: 'select_walkthrough',
          arguments: { walkthrough_id: options['walkthrough-id'] },
        });
        report.walkthrough = { is_error: selected.isError ?? false, structured: selected.structuredContent ?? null };
      }
    } finally {
      await client.close().catch(() => {});
    }
  }
  out.registered = provider.client !== undefined;
  out.client_id = provider.client?.client_id ?? null;
} catch (error) {
  out.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.error(error);
}
console.log(JSON.stringify(out));
process.exit(out.error === null ? 0 : 1);
