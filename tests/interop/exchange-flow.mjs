// Scenarios exchange-private-key-jwt and exchange-client-secret-post: billing, started with
// `--issuer` at node oidc-provider and as one of its token-exchange clients, refunds through
// the payments API with an exchanged token (RFC 8693), never with the user's.
//
//   1. The official TypeScript SDK's 2.x client runs the MCP authorization flow against billing
//      and oidc-provider (alice's token: aud billing), then calls `refund_invoice` in 2026-07-28
//      and in 2025-11-25; each refund succeeds, and oidc-provider's log shows that billing
//      exchanged alice's token as its client, with its authentication method, for payments.
//   2. The payments API by hand: alice's MCP token refused (401 invalid_token, audience); a
//      token this scenario exchanges as the same client accepted (201), the refund recorded
//      with alice as subject, the tenant and the client as `acting_client` (`act.sub`); the
//      same Idempotency-Key again answers the same refund (200). The exchanged token is
//      refused by billing's MCP endpoint (401 invalid_token: payments is not its audience).
//
//   node exchange-flow.mjs --scenario NAME --issuer http://127.0.0.1:P --url http://127.0.0.1:B/mcp \
//     --dir DIR --client ID --as-log FILE
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { UnauthorizedError } from '@modelcontextprotocol/client';

import { HeadlessProvider } from '../lib/headless-provider.mjs';
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
import { authorizeFirst, text } from '../lib/sdk-flow.mjs';
import { clientAuthentication, decode, discover, exchange, registeredClients } from './exchange-client.mjs';

const args = options();
const transcript = new Transcript(args.scenario);
const fetchFn = recordingFetch(transcript);
const mcpUrl = new URL(args.url);
const client = registeredClients(args.dir).find((c) => c.id === args.client);
assert(client, `no client ${args.client} in ${args.dir}`);

/** The exchanges oidc-provider logged (tests/lib/oidc-server.mjs), oldest first. */
function exchangesLogged() {
  return readFileSync(args['as-log'], 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('token-exchange '))
    .map((line) => JSON.parse(line.slice('token-exchange '.length)));
}

/**
 * refund_invoice through `mcp`, then checks that it succeeded, and that every exchange
 * oidc-provider logged meanwhile was billing's: its client, its authentication method, its
 * payments audience, alice, payments:write. `fresh`: alice's token is new to billing, so at
 * least one exchange must have happened (later calls may be served from billing's cache).
 * Nothing else runs against this oidc-provider meanwhile.
 */
async function refund(mcp, era, invoice, cents, fresh) {
  const before = exchangesLogged().length;
  const result = await mcp.callTool({
    name: 'refund_invoice',
    arguments: { invoice_id: invoice, amount_cents: cents, reason: `interop: token exchange, ${era}` },
  });
  assert(!result.isError, `refund_invoice ${invoice} (${era}) failed: ${text(result)}`);
  const outcome = result.structuredContent;
  assert(outcome?.refund?.amount_cents === cents, `refund_invoice ${invoice}: ${JSON.stringify(outcome)}`);
  assert(outcome?.invoice?.id === invoice, `refund_invoice ${invoice}: ${JSON.stringify(outcome?.invoice)}`);
  const made = exchangesLogged().slice(before);
  for (const e of made) {
    assert(e.client === client.id && e.auth === client.method, `exchange by ${JSON.stringify(e)}`);
    assert(
      e.target === client.payments && e.subject === 'alice' && e.scope === 'payments:write',
      `exchange ${JSON.stringify(e)}`,
    );
  }
  assert(!fresh || made.length > 0, `refund_invoice ${invoice}: billing made no exchange at oidc-provider`);
  transcript.step(
    `refund_invoice ${invoice} ${cents} cents in ${era}: OK (refund ${outcome.refund.id ?? ''}); ` +
      `oidc-provider saw ${made.length} exchange(s) for it by ${client.id} (${client.method}) → ${client.payments}, ` +
      `subject alice, scope payments:write${made.length === 0 ? ' (billing used its cached token)' : ''}`,
  );
}

/** POST {payments}/refunds with `token`; resolves to `{ status, challenge, json }`. */
async function paymentsRefund(token, key, body) {
  const response = await fetchFn(`${client.payments}/refunds`, {
    method: 'POST',
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      'content-type': 'application/json',
      'idempotency-key': key,
    },
    body: JSON.stringify(body),
  });
  const raw = await response.text();
  let json;
  try {
    json = JSON.parse(raw);
  } catch {
    json = { raw };
  }
  return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', json };
}

run(transcript, 90_000, async () => {
  transcript.line(
    `billing ${mcpUrl.href} with --issuer oidc-provider ${args.issuer}, exchanging as ${client.id} ` +
      `(${client.method}) for ${client.payments}; TypeScript SDK ${SDK2_VERSION} (@modelcontextprotocol/client)`,
  );

  // --- 1. the SDK calls refund_invoice, both eras ---------------------------------------------
  const provider = new HeadlessProvider({
    transcript,
    fetchFn,
    unauthorizedError: UnauthorizedError,
    clientName: 'mcp-auth interop (TypeScript SDK 2.x, token exchange)',
    query: true,
  });
  const connection = (era) =>
    sdkConnection(era, mcpUrl, { authProvider: provider, fetch: fetchFn, name: 'mcp-auth-interop-exchange' });
  await authorizeFirst({
    transcript,
    provider,
    connection: () => connection(MODERN),
    UnauthorizedError,
    mcpUrl,
    what: 'server/discover',
  });
  const userToken = provider.tokens().access_token;
  const user = decode(userToken).claims;
  assert(user.aud === mcpUrl.href && user.sub === 'alice', `alice's token: aud ${user.aud} sub ${user.sub}`);
  assert(user.scope.split(' ').includes('payments:write'), `alice's token scope: ${user.scope}`);
  transcript.step(`alice's token: aud ${user.aud} (billing only), scope "${user.scope}"`);

  let { transport, client: mcp } = connection(MODERN);
  await mcp.connect(transport);
  assert(mcp.getNegotiatedProtocolVersion() === MODERN, `negotiated ${mcp.getNegotiatedProtocolVersion()}`);
  await refund(mcp, MODERN, 'INV-2042', 1200, true);
  await transport.close();

  ({ transport, client: mcp } = connection(LEGACY));
  await mcp.connect(transport);
  assert(transport.sessionId, 'the initialize response carries an Mcp-Session-Id');
  assert(mcp.getNegotiatedProtocolVersion() === LEGACY, `negotiated ${mcp.getNegotiatedProtocolVersion()}`);
  await refund(mcp, LEGACY, 'INV-2043', 800, false);
  await transport.terminateSession();
  await transport.close();

  // --- 2. the payments API by hand ---------------------------------------------------------------
  const request = { invoice_id: 'INV-2045', amount_cents: 300, reason: 'interop: by hand' };
  const refused = await paymentsRefund(userToken, randomUUID(), request);
  assert(refused.status === 401, `payments with alice's MCP token: ${refused.status} ${JSON.stringify(refused.json)}`);
  assert(/error="invalid_token"/.test(refused.challenge), `challenge: ${refused.challenge}`);
  transcript.step(`payments refuses alice's MCP token (aud billing): 401 ${summarizeChallenge(refused.challenge)}`);
  const anonymous = await paymentsRefund(undefined, randomUUID(), request);
  assert(anonymous.status === 401, `payments without a token: ${anonymous.status}`);
  transcript.step('payments without a token: 401');

  const metadata = await discover(fetchFn, args.issuer);
  const exchanged = await exchange(
    fetchFn,
    metadata.token_endpoint,
    clientAuthentication(client, metadata.token_endpoint),
    userToken,
    {
      resource: client.payments,
      scope: 'payments:write',
    },
  );
  assert(exchanged.status === 200, `exchange: ${exchanged.status} ${JSON.stringify(exchanged.json)}`);
  const token = exchanged.json.access_token;
  transcript.step(
    `exchanged alice's token as ${client.id} (${client.method}): act ${JSON.stringify(decode(token).claims.act)}`,
  );
  const key = randomUUID();
  const made = await paymentsRefund(token, key, request);
  assert(made.status === 201, `payments with the exchanged token: ${made.status} ${JSON.stringify(made.json)}`);
  const recorded = made.json;
  assert(recorded.acting_client === client.id, `acting_client ${recorded.acting_client}`);
  assert(
    recorded.subject === 'alice' && recorded.tenant === 'acme',
    `subject ${recorded.subject} tenant ${recorded.tenant}`,
  );
  assert(recorded.client_id === client.id, `client_id ${recorded.client_id}`);
  assert(recorded.invoice_id === 'INV-2045' && recorded.amount_cents === 300, `refund ${JSON.stringify(recorded)}`);
  transcript.step(
    `payments accepts the exchanged token: 201 refund ${recorded.id} of ${recorded.invoice_id}, subject ${recorded.subject}, ` +
      `tenant ${recorded.tenant}, acting_client ${recorded.acting_client}`,
  );
  const again = await paymentsRefund(token, key, request);
  assert(
    again.status === 200 && again.json.id === recorded.id,
    `same Idempotency-Key: ${again.status} ${JSON.stringify(again.json)}`,
  );
  transcript.step(`the same Idempotency-Key again: 200, the same refund ${again.json.id}`);

  const atBilling = await modernToolCall(fetchFn, mcpUrl, token, 'lookup_invoice', { invoice_id: 'INV-2042' });
  assert(
    atBilling.status === 401 && /error="invalid_token"/.test(atBilling.challenge),
    `billing with the payments token: ${atBilling.status}`,
  );
  transcript.step(
    `the exchanged token replayed at billing's MCP endpoint (aud payments): 401 ${summarizeChallenge(atBilling.challenge)}`,
  );
});
