// Scenarios ts-sdk-legacy and ts-sdk-modern: an official TypeScript SDK client, through nginx
// in front of two billing replicas, runs the whole MCP authorization flow against
// oidc-provider with an OAuthClientProvider that follows the authorization URL over plain
// HTTP instead of opening a browser: 401 → protected-resource metadata → authorization server
// metadata → dynamic client registration → authorization code with PKCE → token with
// `resource` → connect → tools/list → a read call → a write call refused with 403
// insufficient_scope → re-authorization with the challenged scope → the write call succeeds.
// Every MCP request's replica (nginx's X-Upstream) is recorded: the connection must have been
// served by both.
//
//   node ts-sdk-flow.mjs --scenario NAME --sdk v1|v2 --url http://127.0.0.1:NGINX/mcp \
//     --void INV-2041
//
// (--void: the open invoice the write call voids; each scenario takes its own.)
// --sdk v1: @modelcontextprotocol/sdk 1.x, the initialize handshake (2025-11-25) and its
//           Mcp-Session-Id: the session must be served by both replicas.
// --sdk v2: @modelcontextprotocol/client 2.x pinned to protocol 2026-07-28 (server/discover,
//           no session): its requests must be served by both replicas.
import { readFileSync } from 'node:fs';

import { HeadlessProvider } from '../lib/headless-provider.mjs';
import { Transcript, assert, options, recordingFetch, replicasOf, run } from '../lib/scenario.mjs';
import { assertSteppedUp, authorizeFirst, listAndLookup } from '../lib/sdk-flow.mjs';

const args = options();
const sdk = args.sdk ?? 'v1';
const transcript = new Transcript(args.scenario ?? `ts-sdk-${sdk}`);
const exchanges = [];
const fetchFn = recordingFetch(transcript, globalThis.fetch, exchanges);
const mcpUrl = new URL(args.url);
const MODERN = '2026-07-28';
const invoice = args.void ?? 'INV-2041';
const { Client, StreamableHTTPClientTransport, UnauthorizedError, packageName } =
  sdk === 'v2'
    ? { ...(await import('@modelcontextprotocol/client')), packageName: '@modelcontextprotocol/client' }
    : {
        ...(await import('@modelcontextprotocol/sdk/client/index.js')),
        ...(await import('@modelcontextprotocol/sdk/client/auth.js')),
        ...(await import('@modelcontextprotocol/sdk/client/streamableHttp.js')),
        packageName: '@modelcontextprotocol/sdk',
      };
const packageVersion = JSON.parse(
  readFileSync(new URL(`../node_modules/${packageName}/package.json`, import.meta.url)),
).version;

const provider = new HeadlessProvider({
  transcript,
  fetchFn,
  unauthorizedError: UnauthorizedError,
  clientName: `mcp-auth cluster (TypeScript SDK ${sdk})`,
  query: sdk === 'v2',
});

function connection() {
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: fetchFn });
  const clientOptions = sdk === 'v2' ? { versionNegotiation: { mode: { pin: MODERN } } } : {};
  const client = new Client({ name: `mcp-auth-cluster-ts-${sdk}`, version: '1.0.0' }, clientOptions);
  return { transport, client };
}

run(transcript, 60_000, async () => {
  transcript.line(`TypeScript SDK ${packageName} ${packageVersion} through nginx: ${mcpUrl.href}`);

  await authorizeFirst({ transcript, provider, connection, UnauthorizedError, mcpUrl, what: 'connect' });
  const { transport, client } = connection();
  const connectedAt = exchanges.length;
  await client.connect(transport);
  const version = sdk === 'v2' ? client.getNegotiatedProtocolVersion() : transport.protocolVersion;
  if (sdk === 'v2') {
    assert(version === MODERN, `negotiated protocol ${version}, not ${MODERN}`);
    assert(!transport.sessionId, `a ${MODERN} connection has no session, got ${transport.sessionId}`);
    transcript.step(`connected with the token: protocol ${version}, no session`);
  } else {
    assert(version === '2025-11-25', `negotiated protocol ${version}, not 2025-11-25`);
    assert(transport.sessionId, 'the initialize response carries an Mcp-Session-Id');
    transcript.step(`initialized with the token: protocol ${version}, Mcp-Session-Id ${transport.sessionId.slice(0, 8)}…`);
  }

  await listAndLookup(transcript, client);

  // The write call: 403 insufficient_scope, then the SDK's step-up.
  const voidCall = () => client.callTool({ name: 'void_invoice', arguments: { invoice_id: invoice } });
  const before = provider.authorizations.length;
  const voided = await provider.authorized(transport, voidCall, 'step-up');
  const refused = exchanges.slice(connectedAt).find((e) => e.status === 403 && /void_invoice/.test(e.rpc));
  assert(refused, 'void_invoice was first refused with 403 insufficient_scope');
  assertSteppedUp({ transcript, provider, before, voided, invoice });
  if (sdk === 'v1') {
    // End the session (DELETE), on whichever replica nginx picks.
    await transport.terminateSession();
    transcript.step('session terminated (DELETE)');
  }
  await transport.close();

  // Which replicas served the connection: every MCP request after connect.
  const mcp = exchanges.slice(connectedAt).filter((e) => e.path === mcpUrl.pathname);
  const sessionOnly = sdk === 'v1' ? mcp.filter((e) => e.session) : mcp;
  const replicas = replicasOf(sessionOnly);
  const counts = replicas.map((r) => `${r}: ${sessionOnly.filter((e) => replicasOf([e])[0] === r).length}`);
  transcript.step(
    `${sdk === 'v1' ? 'requests on the session' : 'MCP requests of the connection'}: ` +
      `${sessionOnly.length}, served by replicas ${counts.join(', ')}`,
  );
  assert(
    replicas.includes('A') && replicas.includes('B'),
    `the ${sdk === 'v1' ? 'session' : 'connection'} was served by ${replicas.join(', ') || 'no replica'} only`,
  );
});
