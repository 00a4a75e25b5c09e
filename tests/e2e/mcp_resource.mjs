// A small MCP server of the tests' own behind an independent authorization server
// (oidc_provider.mjs --mcp): Streamable HTTP without sessions, JSON answers, two tools.
//
// - Without a valid bearer token every request gets 401 and a challenge naming its
//   protected resource metadata (RFC 9728), which names the provider as its
//   authorization server and `scope` (`mcp` unless told) as what to ask for.
// - A token is valid when the provider issued it for this resource with the scope `mcp`
//   (asked in-process: tokens are opaque).
// - `whoami` answers the account the token speaks for, so a test sees whose call it got.
// - `admin_report` is offered only to the accounts in `administrators`: the others do not
//   see it in tools/list, and calling it answers invalid params, "Unknown tool", as
//   rmcp's and the TypeScript SDK's routers do.
// - GET /test/calls lists the accounts of the calls received, in order.

const METADATA_PATH = '/.well-known/oauth-protected-resource/mcp';
const BODY_LIMIT = 64 * 1024;

async function readJson(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > BODY_LIMIT) throw new Error('request too large');
  }
  return JSON.parse(body);
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

/** The account a presented token speaks for, or undefined. */
async function accountOf(provider, resource, req) {
  const header = req.headers.authorization ?? '';
  const [scheme, value] = header.split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !value) return undefined;
  const token = await provider.AccessToken.find(value);
  if (!token || token.isExpired) return undefined;
  const audiences = [token.aud].flat();
  const scopes = (token.scope ?? '').split(' ');
  if (!audiences.includes(resource) || !scopes.includes('mcp')) return undefined;
  return token.accountId;
}

const WHOAMI = {
  name: 'whoami',
  description: 'The account this call speaks for.',
  inputSchema: { type: 'object', properties: {} },
};
const ADMIN_REPORT = {
  name: 'admin_report',
  description: "The administrators' report.",
  inputSchema: { type: 'object', properties: {} },
};

function answer(message, account, calls, administrators) {
  const administrator = administrators.includes(account);
  const { id, method, params } = message;
  const result = (value) => ({ jsonrpc: '2.0', id, result: value });
  switch (method) {
    case 'initialize':
      return result({
        protocolVersion: params?.protocolVersion ?? '2025-11-25',
        capabilities: { tools: {} },
        serverInfo: { name: 'independent-resource', version: '1.0.0' },
      });
    case 'ping':
      return result({});
    case 'tools/list':
      return result({ tools: administrator ? [WHOAMI, ADMIN_REPORT] : [WHOAMI] });
    case 'tools/call':
      if (params?.name === 'whoami') {
        calls.push(account);
        return result({ content: [{ type: 'text', text: `signed in as ${account}` }] });
      }
      if (params?.name === 'admin_report' && administrator) {
        calls.push(account);
        return result({ content: [{ type: 'text', text: `the report, for ${account}` }] });
      }
      return { jsonrpc: '2.0', id, error: { code: -32602, message: `Unknown tool: ${params?.name}` } };
    default:
      return { jsonrpc: '2.0', id, error: { code: -32601, message: `no method ${method}` } };
  }
}

export function mcpResource({ provider, issuer, resource, scope = 'mcp', administrators = [] }) {
  const origin = new URL(resource).origin;
  const calls = [];
  const challenge = `Bearer resource_metadata="${origin}${METADATA_PATH}", scope="${scope}"`;
  return async (req, res) => {
    try {
      const path = new URL(req.url, origin).pathname;
      if (path === METADATA_PATH) {
        const scopes = scope.split(' ');
        return send(res, 200, { resource, authorization_servers: [issuer], scopes_supported: scopes, bearer_methods_supported: ['header'] });
      }
      if (path === '/test/calls') return send(res, 200, calls);
      if (path !== '/mcp') return send(res, 404, { error: 'not found' });
      const account = await accountOf(provider, resource, req);
      if (!account) return send(res, 401, { error: 'invalid_token' }, { 'www-authenticate': challenge });
      if (req.method !== 'POST') return send(res, 405, undefined, { allow: 'POST' });
      const message = await readJson(req);
      if (message.id === undefined) return send(res, 202);
      return send(res, 200, answer(message, account, calls, administrators));
    } catch (error) {
      return send(res, 400, { error: String(error.message ?? error) });
    }
  };
}
