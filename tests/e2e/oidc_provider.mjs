#!/usr/bin/env node
// A real OpenID Connect provider (`oidc-provider`, pinned in package.json) standing in for
// an organization's own identity provider in the `custom_oauth` tests
// (crates/guidepost/tests/it/oauth_custom.rs).
//
//   node tests/e2e/oidc_provider.mjs --redirect-uri URL [--redirect-uri URL ...]
//       [--client-id ID] [--client-secret SECRET] [--user ada] [--password pw]
//       [--email ada@acme.example] [--email-verified true|false|omitted]
//       [--claims-in-id-token] [--mcp] [--mcp-scope 'mcp openid email'] [--registration]
//       [--other-user bob ...] [--groups eng,oncall]
//
// It listens on 127.0.0.1 (a free port) and prints ONE JSON line when ready:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT}
// (with --mcp also "mcp": "http://127.0.0.1:PORT2/mcp") then serves until killed.
//
// - One confidential client (client_secret_basic), code flow, the given redirect URIs.
// - One person (more with --other-user, each with the same password and an email at the
//   same domain). Sign-in is a plain HTML form at /interaction/{uid} (fields `username`,
//   `password`, and a `cancel` button that answers access_denied), so that a test can
//   drive it over HTTP like a browser without JavaScript. Consent is implied (a company's
//   own provider and its own app), granted by the script.
// - By default `email` and `email_verified` are released at userinfo only (the OpenID
//   Connect rule for the code flow); --claims-in-id-token puts them in the ID token.
// - GET /test/issued lists every token response the provider gave (access, ID and
//   refresh tokens), so the test can check that none of them reaches an MCP client.
// - --mcp: the provider also stands as an independent authorization server for an MCP
//   server of the tests' own (mcp_resource.mjs) on a second port: resource indicators
//   (RFC 8707) with the scope `mcp`, refresh tokens, and the MCP server's protected
//   resource metadata (RFC 9728) naming this issuer. Connections tests install it as a
//   remote upstream that needs sign-in (issue 32). --mcp-scope is what the MCP server's
//   challenge and metadata ask for (`mcp` by default; `openid email` added gives the
//   platform an ID token that names the account). Only the first person is the MCP
//   server's administrator, offered its `admin_report` tool.
// - --registration: dynamic client registration (RFC 7591) is open.
// - --groups: every person's `groups` claim (comma-separated), released with `openid`, so
//   in the ID token with --claims-in-id-token and at userinfo otherwise.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

import { mcpResource } from './mcp_resource.mjs';

const { values: options } = parseArgs({
  options: {
    'redirect-uri': { type: 'string', multiple: true },
    'client-id': { type: 'string', default: 'guidepost' },
    'client-secret': { type: 'string', default: 'guidepost-client-secret' },
    user: { type: 'string', default: 'ada' },
    password: { type: 'string', default: 'correct horse' },
    email: { type: 'string', default: 'ada@acme.example' },
    'email-verified': { type: 'string', default: 'true' },
    'claims-in-id-token': { type: 'boolean', default: false },
    mcp: { type: 'boolean', default: false },
    'mcp-scope': { type: 'string', default: 'mcp' },
    'other-user': { type: 'string', multiple: true, default: [] },
    registration: { type: 'boolean', default: false },
    groups: { type: 'string' },
  },
});
if (!options['redirect-uri']?.length) {
  console.error('usage: oidc_provider.mjs --redirect-uri URL [...]');
  process.exit(2);
}

const issued = [];
// Each person's email: the first's as given, the others' at the same domain.
const domain = options.email.split('@')[1];
const people = new Map([
  [options.user, options.email],
  ...options['other-user'].map((user) => [user, `${user}@${domain}`]),
]);
const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
}

function loginPage(uid, error) {
  const alert = error ? `<p role="alert">${escape(error)}</p>` : '';
  return `<!doctype html><html><head><title>Acme sign-in</title></head><body>
<h1>Acme corporate sign-in</h1>${alert}
<form method="post" action="/interaction/${escape(uid)}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16 * 1024) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

/** Grants what the client asked for: the provider's own app needs no consent screen. */
async function grantConsent(provider, interaction) {
  const { prompt, params, session, grantId } = interaction;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt } = details;
  if (prompt.name === 'consent') {
    const grantId = await grantConsent(provider, details);
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    return res.end(loginPage(uid));
  }
  const form = await readForm(req);
  if (form.action === 'cancel') {
    const result = { error: 'access_denied', error_description: 'the person cancelled' };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  if (!people.has(form.username) || form.password !== options.password) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    return res.end(loginPage(uid, 'Wrong username or password.'));
  }
  return provider.interactionFinished(req, res, { login: { accountId: form.username } }, { mergeWithLastSubmission: false });
}

const listen = async (server) => {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
};
const server = http.createServer();
const port = await listen(server);
const issuer = `http://127.0.0.1:${port}`;
const resourceServer = options.mcp ? http.createServer() : undefined;
const resource = resourceServer && `http://127.0.0.1:${await listen(resourceServer)}/mcp`;

// The MCP server's tokens: for its resource only, with the scope it names, opaque (it
// asks this provider about them, in this process), refreshable.
const resourceFeatures = resource
  ? {
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== resource) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return { scope: 'mcp', audience: resource, accessTokenFormat: 'opaque', accessTokenTTL: 3600 };
        },
      },
    }
  : {};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: options['client-id'],
      client_secret: options['client-secret'],
      redirect_uris: options['redirect-uri'],
      grant_types: options.mcp ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub', 'groups'], email: ['email', 'email_verified'] },
  conformIdTokenClaims: !options['claims-in-id-token'],
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: options.registration },
    revocation: { enabled: options.mcp },
    ...resourceFeatures,
  },
  scopes: ['openid', 'offline_access', 'mcp'],
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    const email = people.get(sub);
    if (!email) return undefined;
    return {
      accountId: sub,
      async claims() {
        const verified = options['email-verified'];
        const groups = options.groups ? { groups: options.groups.split(',') } : {};
        if (verified === 'omitted') return { sub, email, ...groups };
        return { sub, email, email_verified: verified === 'true', ...groups };
      },
    };
  },
});
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.access_token) {
    issued.push({ ...ctx.body });
  }
});
const callback = provider.callback();

server.on('request', (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path === '/test/issued') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(issued));
  }
  if (path.startsWith('/interaction/')) {
    return interaction(provider, req, res).catch((error) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${error.message}`);
    });
  }
  return callback(req, res);
});

if (resourceServer) {
  const scope = options['mcp-scope'];
  const administrators = [options.user];
  resourceServer.on('request', mcpResource({ provider, issuer, resource, scope, administrators }));
}
console.log(JSON.stringify({ issuer, port, ...(resource ? { mcp: resource } : {}) }));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
