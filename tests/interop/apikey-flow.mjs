// Scenario apikey-ts: the official TypeScript SDK's 2.x client calling billing with API keys
// made by `billing apikey create`, sent as bearer credentials (the SDK's AuthProvider `token()`):
// no OAuth flow at all. Then, by hand, what a key must not do.
//
//   1. The reader key (tenant acme, invoices:read) in 2026-07-28 and in 2025-11-25: tools/list,
//      lookup_invoice INV-2041; void_invoice is refused with 403 insufficient_scope and the
//      challenge naming invoices:write, as for a JWT.
//   2. The writer key (tenant globex, invoices:read invoices:write, its own subject and client
//      id): create_invoice records the key's subject as the creator, with a globex id, and
//      INV-2041 (acme's) is not found: the principal and tenant come from the key.
//   3. Refused: the reader key with its last character changed, a key of another prefix, the
//      reader key in the query string instead of the header; the reader key after `billing
//      apikey revoke` (the server reloads the file, no restart); then failed attempts from this
//      peer until billing answers 429 with Retry-After.
//
//   node apikey-flow.mjs --url http://127.0.0.1:B/mcp --reader-key KEY --reader-id ID \
//     --writer-key KEY --writer-subject S --billing PATH --data-dir DIR
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import {
  Transcript,
  assert,
  modernToolCall,
  options,
  recordingFetch,
  run,
  summarizeChallenge,
} from '../lib/scenario.mjs';
import { LEGACY, MODERN, SDK2_VERSION, connection as sdkConnection } from '../lib/sdk2.mjs';
import { listAndLookup, text } from '../lib/sdk-flow.mjs';

const args = options();
const transcript = new Transcript('apikey-ts');
const fetchFn = recordingFetch(transcript);
const mcpUrl = new URL(args.url);

/** An SDK client of billing in `era` whose every request carries `key` as its bearer credential. */
function connection(key, era) {
  // The SDK's minimal AuthProvider: a credential it sends as `Authorization: Bearer`.
  const authProvider = { token: async () => key };
  return sdkConnection(era, mcpUrl, { authProvider, fetch: fetchFn, name: 'mcp-auth-interop-apikey' });
}

/** A 2026-07-28 lookup_invoice INV-2041 with `key`, by hand. */
function lookup(key) {
  return modernToolCall(fetchFn, mcpUrl, key, 'lookup_invoice', { invoice_id: 'INV-2041' });
}

/** The key with its last character changed (to another base64url character). */
function altered(key) {
  const last = key.at(-1);
  return `${key.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`;
}

run(transcript, 90_000, async () => {
  transcript.line(
    `TypeScript SDK ${SDK2_VERSION} (@modelcontextprotocol/client) against ${mcpUrl.href} with API keys from \`billing apikey create\``,
  );
  const reader = args['reader-key'];
  const writer = args['writer-key'];

  // --- 1. the reader key, both eras -----------------------------------------------------------
  for (const era of [MODERN, LEGACY]) {
    const { transport, client } = connection(reader, era);
    await client.connect(transport);
    assert(client.getNegotiatedProtocolVersion() === era, `negotiated ${client.getNegotiatedProtocolVersion()}`);
    assert(Boolean(transport.sessionId) === (era === LEGACY), `session id in ${era}: ${transport.sessionId}`);
    transcript.step(
      `connected in ${era} with the reader key${transport.sessionId ? ' (Mcp-Session-Id)' : ', no session'}`,
    );
    await listAndLookup(transcript, client);
    if (transport.sessionId) await transport.terminateSession();
    await transport.close();
  }
  const denied = await modernToolCall(fetchFn, mcpUrl, reader, 'void_invoice', { invoice_id: 'INV-2044' });
  assert(denied.status === 403, `void_invoice with the reader key: ${denied.status} ${denied.text.slice(0, 200)}`);
  assert(
    /error="insufficient_scope"/.test(denied.challenge) && /invoices:write/.test(denied.challenge),
    `challenge: ${denied.challenge}`,
  );
  transcript.step(`void_invoice with the reader key: 403 ${summarizeChallenge(denied.challenge)}`);

  // --- 2. the writer key: its principal and tenant ----------------------------------------------
  {
    const { transport, client } = connection(writer, MODERN);
    await client.connect(transport);
    const created = await client.callTool({
      name: 'create_invoice',
      arguments: { customer: 'Interop Ltd', amount_cents: 4200 },
    });
    assert(!created.isError, `create_invoice: ${text(created)}`);
    const invoice = created.structuredContent;
    assert(invoice?.created_by === args['writer-subject'], `created_by ${invoice?.created_by}`);
    assert(/^INV-31\d\d$/.test(invoice.id), `a globex id: ${invoice.id}`);
    transcript.step(
      `create_invoice with the writer key (tenant globex): ${invoice.id}, created_by ${invoice.created_by} (the key's subject)`,
    );
    const foreign = await client.callTool({ name: 'lookup_invoice', arguments: { invoice_id: 'INV-2041' } });
    assert(foreign.isError, `INV-2041 of acme with a globex key: ${text(foreign)}`);
    transcript.step(`lookup_invoice INV-2041 (acme's) with the globex key: tool error "${text(foreign).slice(0, 80)}"`);
    await transport.close();
  }

  // --- 3. refused ---------------------------------------------------------------------------------
  const wrong = await lookup(altered(reader));
  assert(
    wrong.status === 401 && /error="invalid_token"/.test(wrong.challenge),
    `altered key: ${wrong.status} ${wrong.challenge}`,
  );
  transcript.step(`the reader key with its last character changed: 401 ${summarizeChallenge(wrong.challenge)}`);
  const prefix = reader.indexOf('_') + 1;
  const otherPrefix = await lookup(`xyzk_${reader.slice(prefix)}`);
  assert(otherPrefix.status === 401, `another prefix: ${otherPrefix.status}`);
  transcript.step(
    `the same key with another prefix (taken for a JWT, not a key): 401 ${summarizeChallenge(otherPrefix.challenge)}`,
  );
  const query = new URL(mcpUrl);
  query.searchParams.set('access_token', reader);
  const inQuery = await fetchFn(query, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } },
    }),
  });
  await inQuery.arrayBuffer();
  const queryChallenge = inQuery.headers.get('www-authenticate') ?? '';
  // RFC 6750 §5.3: a credential in the URL ends up in logs; refused as malformed, not looked up.
  assert(
    inQuery.status === 400 && /error="invalid_request"/.test(queryChallenge),
    `the key in the query string: ${inQuery.status} ${queryChallenge}`,
  );
  transcript.step(
    `the reader key in the query string (?access_token=), no header: 400 ${summarizeChallenge(queryChallenge)}`,
  );

  const { stdout } = await promisify(execFile)(
    args.billing,
    ['apikey', 'revoke', args['reader-id'], '--data-dir', args['data-dir']],
    {
      timeout: 30_000,
    },
  );
  transcript.step(`\`billing apikey revoke ${args['reader-id']}\`: ${stdout.trim().split('\n')[0]}`);
  // The server notices the file's change within its reload interval (2 s by default).
  let revoked;
  const deadline = Date.now() + 15_000;
  for (;;) {
    revoked = await lookup(reader);
    if (revoked.status !== 200 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert(
    revoked.status === 401 && /error="invalid_token"/.test(revoked.challenge),
    `revoked key: ${revoked.status} ${revoked.challenge}`,
  );
  transcript.step(
    `the revoked reader key, after billing reloaded its keys (no restart): 401 ${summarizeChallenge(revoked.challenge)}`,
  );

  // Failed key attempts are limited per peer: this one, 127.0.0.1, is answered 429 at some point.
  let limited;
  let attempts = 0;
  while (attempts < 60) {
    attempts += 1;
    limited = await lookup(altered(writer));
    if (limited.status === 429) break;
    assert(limited.status === 401, `failed attempt ${attempts}: ${limited.status}`);
  }
  assert(limited.status === 429, `no 429 after ${attempts} failed attempts`);
  const response = await fetchFn(mcpUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${altered(writer)}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const retryAfter = response.headers.get('retry-after');
  assert(response.status === 429 && Number(retryAfter) > 0, `429 with Retry-After: ${response.status} ${retryAfter}`);
  transcript.step(
    `failed key attempts from this peer: 429 with Retry-After ${retryAfter} s after ${attempts} attempts`,
  );
});
