// Scenario 1 (and 3d): the official TypeScript SDK client, with an OAuthClientProvider that
// follows the authorization URL over plain HTTP instead of opening a browser, runs the whole
// MCP authorization flow against billing: 401 → protected-resource metadata → authorization
// server metadata → dynamic client registration → authorization code with PKCE → token with
// `resource` → tools/list → a read call → a write call refused with 403 insufficient_scope →
// re-authorization with the challenged scope → the write call succeeds.
//
//   node ts-sdk-flow.mjs --scenario NAME --url http://127.0.0.1:PORT/mcp
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { HeadlessProvider } from '../lib/headless-provider.mjs';
import { Transcript, assert, options, recordingFetch, run } from '../lib/scenario.mjs';
import { assertSteppedUp, authorizeFirst, listAndLookup } from '../lib/sdk-flow.mjs';

const args = options();
const transcript = new Transcript(args.scenario ?? 'ts-sdk');
const fetchFn = recordingFetch(transcript);
const mcpUrl = new URL(args.url);
const provider = new HeadlessProvider({
  transcript,
  fetchFn,
  unauthorizedError: UnauthorizedError,
  clientName: 'mcp-auth interop (TypeScript SDK)',
});

function connection() {
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: fetchFn });
  const client = new Client({ name: 'mcp-auth-interop-ts', version: '1.0.0' });
  return { transport, client };
}

run(transcript, 60_000, async () => {
  transcript.line(`TypeScript SDK client against ${mcpUrl.href}`);

  await authorizeFirst({ transcript, provider, connection, UnauthorizedError, mcpUrl, what: 'initialize' });
  let { transport, client } = connection();
  await client.connect(transport);
  transcript.step(`initialized with the token (protocol ${transport.protocolVersion ?? 'negotiated'})`);
  await listAndLookup(transcript, client);

  // The write call: 403 insufficient_scope, then the SDK's step-up.
  const voidCall = () => client.callTool({ name: 'void_invoice', arguments: { invoice_id: 'INV-2041' } });
  const before = provider.authorizations.length;
  let voided;
  try {
    voided = await provider.authorized(transport, voidCall, 'step-up');
  } catch (err) {
    // typescript-sdk#2255 (1.x): with a refresh token the SDK refreshes instead of
    // re-authorizing; a refresh cannot widen the scope (RFC 6749 §6), so the server refuses
    // the new token with the same challenge and the SDK gives up.
    if (!/403 after trying upscoping/.test(String(err?.message))) throw err;
    assert(provider.authorizations.length === before, 'no authorization request was made');
    transcript.step(
      'step-up dead-ended: the SDK refreshed the token (same scope) instead of re-authorizing, ' +
        'and billing answered 403 again (typescript-sdk#2255); retrying with a provider that ' +
        'does not hand the refresh token to the SDK',
    );
    provider.keepRefreshTokens = false;
    ({ transport, client } = connection());
    await client.connect(transport);
    voided = await provider.authorized(transport, voidCall, 'step-up');
  }
  assertSteppedUp({ transcript, provider, before, voided, invoice: 'INV-2041' });
  await transport.close();
});
