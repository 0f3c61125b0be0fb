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

import { Transcript, assert, followAuthorization, options, recordingFetch, run } from '../lib/scenario.mjs';

const args = options();
const transcript = new Transcript(args.scenario ?? 'ts-sdk');
const fetchFn = recordingFetch(transcript);
const mcpUrl = new URL(args.url);
// Loopback, as a native client's (RFC 8252 §7.3). Nothing listens there: the provider reads
// the code from the `Location` header that points at it.
const redirectUri = 'http://127.0.0.1:47611/callback';

/**
 * An OAuthClientProvider kept in memory. `redirectToAuthorization` follows the authorization
 * URL with fetch (redirect: 'manual', cookies kept) and keeps the code of the final redirect.
 */
class HeadlessProvider {
  constructor() {
    this.jar = new Map();
    this.authorizations = [];
    this.keepRefreshTokens = true;
  }

  get redirectUrl() {
    return redirectUri;
  }

  get clientMetadata() {
    return {
      client_name: 'mcp-auth interop (TypeScript SDK)',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.expectedState = crypto.randomUUID();
    return this.expectedState;
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info) {
    this.client = info;
    transcript.step(`registered as client ${info.client_id} (registration scope: "${info.scope ?? ''}")`);
  }

  tokens() {
    if (!this.stored) return undefined;
    if (this.keepRefreshTokens) return this.stored;
    const { refresh_token: _dropped, ...rest } = this.stored;
    return rest;
  }

  saveTokens(tokens) {
    this.stored = tokens;
    transcript.step(
      `token saved: scope "${tokens.scope ?? ''}"${tokens.refresh_token ? ', with a refresh token' : ''}`,
    );
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }

  async redirectToAuthorization(authorizationUrl) {
    const scope = authorizationUrl.searchParams.get('scope');
    const resource = authorizationUrl.searchParams.get('resource');
    const method = authorizationUrl.searchParams.get('code_challenge_method');
    transcript.step(`authorization request: scope "${scope}", resource ${resource}, PKCE ${method}`);
    const back = await followAuthorization(fetchFn, authorizationUrl, redirectUri, this.jar);
    assert(!back.searchParams.has('error'), `authorization refused: ${back.search}`);
    assert(back.searchParams.get('state') === this.expectedState, 'the redirect carries our state');
    this.authorizations.push({ scope, resource, method });
    this.code = back.searchParams.get('code');
    assert(this.code, 'the redirect carries a code');
  }

  takeCode() {
    const { code } = this;
    this.code = undefined;
    return code;
  }
}

const provider = new HeadlessProvider();

function connection() {
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: fetchFn });
  const client = new Client({ name: 'mcp-auth-interop-ts', version: '1.0.0' });
  return { transport, client };
}

/** Runs `call`; when it needs authorization, completes the code flow and runs it again. */
async function authorized(transport, call, what) {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    const code = provider.takeCode();
    assert(code, `${what}: the SDK asked for authorization and the provider got a code`);
    await transport.finishAuth(code);
    return call();
  }
}

function text(result) {
  return result.content?.find((c) => c.type === 'text')?.text ?? '';
}

run(transcript, 60_000, async () => {
  transcript.line(`TypeScript SDK client against ${mcpUrl.href}`);

  // 401 → discovery → registration → authorization → token, all driven by the SDK.
  let { transport, client } = connection();
  try {
    await client.connect(transport);
    throw new Error('the first connection succeeded without a token');
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  transcript.step('initialize without a token: 401, the SDK ran discovery, registration and authorization');
  await transport.finishAuth(provider.takeCode());
  assert(provider.authorizations[0]?.resource === mcpUrl.href, 'the authorization request names the resource');
  ({ transport, client } = connection());
  await client.connect(transport);
  transcript.step(`initialized with the token (protocol ${transport.protocolVersion ?? 'negotiated'})`);

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert(names.includes('lookup_invoice') && names.includes('void_invoice'), `tools/list: ${names}`);
  transcript.step(`tools/list: ${names.join(', ')}`);

  const lookup = await client.callTool({ name: 'lookup_invoice', arguments: { invoice_id: 'INV-2041' } });
  assert(!lookup.isError, `lookup_invoice failed: ${text(lookup)}`);
  assert(text(lookup).includes('INV-2041'), 'lookup_invoice returns INV-2041');
  transcript.step('lookup_invoice INV-2041: OK');

  // The write call: 403 insufficient_scope, then the SDK's step-up.
  const voidCall = () => client.callTool({ name: 'void_invoice', arguments: { invoice_id: 'INV-2041' } });
  const before = provider.authorizations.length;
  let voided;
  try {
    voided = await authorized(transport, voidCall, 'step-up');
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
    voided = await authorized(transport, voidCall, 'step-up');
  }
  const stepUp = provider.authorizations.at(-1);
  assert(provider.authorizations.length === before + 1, 'the step-up made one authorization request');
  assert(stepUp.scope.split(' ').includes('invoices:write'), `step-up scope: ${stepUp.scope}`);
  assert(!voided.isError, `void_invoice failed after step-up: ${text(voided)}`);
  assert(voided.structuredContent?.changed === true, `void_invoice changed nothing: ${text(voided)}`);
  transcript.step(`void_invoice INV-2041 after step-up (scope "${stepUp.scope}"): OK, changed: true`);
  await transport.close();
});
