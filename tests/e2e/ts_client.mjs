#!/usr/bin/env node
// End-to-end check of an MCP server with the official TypeScript client
// (`@modelcontextprotocol/client`, pinned in package.json).
//
// Run by the Rust integration tests (crates/guidepost/tests/it/node_clients.rs) with
// Node 22:
//
//   node tests/e2e/ts_client.mjs --url http://127.0.0.1:PORT/s/acme/mcp?tracking_id=dev-42
//       --mode auto|legacy [--call-support-email EMAIL]
//       [--call-tool NAME [--arguments JSON] [--progress]]
//       [--list-prompts] [--read-resource URI]
//
// `auto` negotiates the protocol version with server/discover (2026-07-28 when the
// server offers it); `legacy` is the plain 2025 `initialize` handshake and session.
// It lists the tools (following nextCursor), optionally calls `get_support`, and prints
// ONE JSON object on the last line of stdout:
//
//   {"protocol_version": str|null, "server_name": str|null, "tools": [names],
//    "support": {structuredContent}|null, "is_error": bool|null, "support_text": str|null,
//    "call": {"text", "is_error", "progress": [{progress, total, message}]}|null,
//    "prompts": [names]|null, "read": {"uri", "text"}|null, "error": str|null}
//
// Exit status: 0 success, 1 failure (the JSON line carries "error"), 2 bad usage.
import { parseArgs } from 'node:util';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const usage =
  'usage: ts_client.mjs --url URL --mode auto|legacy [--call-support-email EMAIL] [--call-tool NAME [--arguments JSON] [--progress]] [--list-prompts] [--read-resource URI]';
let options;
try {
  ({ values: options } = parseArgs({
    options: {
      url: { type: 'string' },
      mode: { type: 'string', default: 'auto' },
      'call-support-email': { type: 'string' },
      'call-tool': { type: 'string' },
      arguments: { type: 'string', default: '{}' },
      progress: { type: 'boolean', default: false },
      'list-prompts': { type: 'boolean', default: false },
      'read-resource': { type: 'string' },
    },
  }));
} catch (error) {
  console.error(`${usage}\n${error.message}`);
  process.exit(2);
}
if (!options.url || !['auto', 'legacy'].includes(options.mode)) {
  console.error(usage);
  process.exit(2);
}

const report = {
  protocol_version: null,
  server_name: null,
  tools: [],
  support: null,
  is_error: null,
  support_text: null,
  call: null,
  prompts: null,
  read: null,
  error: null,
};

const client = new Client(
  { name: 'guidepost-e2e-ts', version: '1.0.0' },
  { versionNegotiation: { mode: options.mode } },
);
const transport = new StreamableHTTPClientTransport(new URL(options.url));

try {
  await client.connect(transport);
  report.protocol_version = client.getNegotiatedProtocolVersion() ?? null;
  report.server_name = client.getServerVersion()?.name ?? null;

  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined);
    report.tools.push(...page.tools.map((tool) => tool.name));
    cursor = page.nextCursor;
  } while (cursor);
  console.log(JSON.stringify(report.tools));

  const email = options['call-support-email'];
  if (email !== undefined) {
    const result = await client.callTool({
      name: 'get_support',
      arguments: {
        title: 'Cannot connect my account',
        problem_description: 'The connect button spins forever; I expected a success page.',
        email,
      },
    });
    report.is_error = result.isError ?? false;
    report.support = result.structuredContent ?? null;
    report.support_text = result.content?.find((block) => block.type === 'text')?.text ?? null;
  }

  const tool = options['call-tool'];
  if (tool !== undefined) {
    const progress = [];
    const onprogress = ({ progress: done, total, message }) => progress.push({ progress: done, total, message });
    const result = await client.callTool(
      { name: tool, arguments: JSON.parse(options.arguments) },
      options.progress ? { onprogress } : undefined,
    );
    report.call = {
      text: result.content?.find((block) => block.type === 'text')?.text ?? null,
      is_error: result.isError ?? false,
      progress,
    };
  }

  if (options['list-prompts']) {
    const listed = await client.listPrompts();
    report.prompts = listed.prompts.map((prompt) => prompt.name);
  }

  const uri = options['read-resource'];
  if (uri !== undefined) {
    const read = await client.readResource({ uri });
    const first = read.contents[0];
    report.read = { uri: first?.uri ?? null, text: first?.text ?? null };
  }
} catch (error) {
  report.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
} finally {
  await client.close().catch(() => {});
}

console.log(JSON.stringify(report));
process.exit(report.error === null ? 0 : 1);
