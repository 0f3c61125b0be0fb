// Scenario dpop: DPoP-bound access tokens (RFC 9449, SEP-1932) with real third-party parts.
// node oidc-provider (its DPoP feature, nonces required at its token endpoint) is billing's
// authorization server; the official TypeScript SDK's 2.x client (`@modelcontextprotocol/client`,
// whose OAuthClientProvider may return a DpopSession) creates every proof. Billing runs twice:
// `--dpop accept` (the default) and `--dpop require`.
//
//   1. The SDK's whole flow with a DPoP key: 401 → discovery → registration → authorization
//      (PKCE) → token request with a proof (use_dpop_nonce, then again with oidc-provider's
//      nonce) → `token_type: DPoP`, `cnf.jkt` = the key's thumbprint → 2026-07-28 (server/discover,
//      tools/list, lookup_invoice) and the step-up to invoices:write, all with `Authorization:
//      DPoP` and a fresh proof per request; then 2025-11-25 (initialize, Mcp-Session-Id,
//      tools/list, lookup_invoice, DELETE).
//   2. By hand with the SDK's DpopSession: a fresh proof works; the same proof again is refused
//      (401 invalid_dpop_proof); the same token as Bearer is refused (401).
//   3. Billing `--dpop require`: its metadata says so; a plain bearer token from oidc-provider is
//      refused with the DPoP challenge; a DPoP-bound client_credentials token works in both eras.
// Server nonces at billing are followed when billing sends them (the SDK retries by itself).
//
//   node dpop-flow.mjs --issuer http://127.0.0.1:P --url http://127.0.0.1:B/mcp \
//     --require-url http://127.0.0.1:C/mcp --client-id ID --client-secret SECRET
import {
  Client,
  DpopSession,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  withDpop,
} from '@modelcontextprotocol/client';

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
import { assertSteppedUp, authorizeFirst, listAndLookup } from '../lib/sdk-flow.mjs';

const args = options();
const transcript = new Transcript('dpop');
const recording = recordingFetch(transcript);
const mcpUrl = new URL(args.url);
const requireUrl = new URL(args['require-url']);

/** The decoded header and claims of a JWT. */
function decode(jwt) {
  const [header, claims] = jwt.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  return { header, claims };
}

/** Every proof sent, as `{ jti, to }`: each must be new, and each must fit its request. */
const proofs = [];
/** Proofs the scenario sends twice on purpose (the replay check). */
let replays = 0;
/** The `WWW-Authenticate` of every 403 (the step-up challenge must use the DPoP scheme). */
const forbidden = [];

/**
 * The recording fetch, checking each DPoP proof on its way out: `typ`, a public `jwk` (no
 * private part), `htm` and `htu` of this very request, `ath` exactly when a token rides along
 * in the DPoP scheme. A client library that got these wrong would fail here, not at billing.
 */
async function proofCheckingFetch(input, init = {}) {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  const proof = headers.get('dpop');
  if (proof) {
    const method = (init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const { header, claims } = decode(proof);
    assert(header.typ === 'dpop+jwt', `proof typ ${header.typ}`);
    assert(header.jwk && header.jwk.d === undefined, 'the proof carries a public jwk only');
    assert(claims.htm === method, `htm ${claims.htm} for a ${method}`);
    assert(claims.htu === `${url.origin}${url.pathname}`, `htu ${claims.htu} for ${url.href}`);
    const scheme = headers.get('authorization')?.split(' ')[0];
    assert((scheme === 'DPoP') === (claims.ath !== undefined), `ath ${claims.ath} with scheme ${scheme}`);
    proofs.push({ jti: claims.jti, to: url.pathname === mcpUrl.pathname ? 'billing' : 'oidc-provider', alg: header.alg });
  }
  const response = await recording(input, init);
  if (response.status === 403) forbidden.push(response.headers.get('www-authenticate') ?? '');
  return response;
}

/** The HeadlessProvider with a DPoP key: the SDK then binds its tokens and signs proofs. */
class DpopProvider extends HeadlessProvider {
  constructor(session, settings) {
    super(settings);
    this.session = session;
  }

  dpop() {
    return this.session;
  }
}

/** A 2026-07-28 tools/call lookup_invoice with `token` in the DPoP scheme and `proof`. */
function dpopCall(url, token, proof) {
  return modernToolCall(proofCheckingFetch, url, token, 'lookup_invoice', { invoice_id: 'INV-2041' }, {
    authorization: `DPoP ${token}`,
    dpop: proof,
  });
}

/** A fresh proof for a POST to `url` with `token`, the nonce billing last sent included. */
function proofFor(session, url, token) {
  return session.buildProof({ htm: 'POST', htu: url, accessToken: token });
}

/**
 * `dpopCall` with a fresh proof; when billing asks for a nonce (401 use_dpop_nonce with
 * DPoP-Nonce), once more with it, as RFC 9449 §9 says a client does.
 */
async function freshCall(session, url, token) {
  let answer = await dpopCall(url, token, await proofFor(session, url, token));
  if (answer.status === 401 && /use_dpop_nonce/.test(answer.challenge) && answer.nonce) {
    session.rememberNonce(url, answer.nonce);
    transcript.step(`billing asked for a DPoP nonce (401 use_dpop_nonce): retried with it`);
    answer = await dpopCall(url, token, await proofFor(session, url, token));
  }
  if (answer.nonce) session.rememberNonce(url, answer.nonce);
  return answer;
}

/** The call went through and returned INV-2041. */
function assertLookedUp(answer, what) {
  assert(answer.status === 200, `${what}: ${answer.status} ${answer.challenge} ${answer.text.slice(0, 300)}`);
  const { result } = JSON.parse(answer.text);
  assert(result && !result.isError && JSON.stringify(result).includes('INV-2041'), `${what}: ${answer.text.slice(0, 300)}`);
}

/** A client_credentials token from oidc-provider for `resource`, DPoP-bound when `session`. */
async function clientCredentials(resource, scope, session) {
  const metadata = await (await proofCheckingFetch(`${args.issuer}/.well-known/openid-configuration`)).json();
  const basic = Buffer.from(`${args['client-id']}:${args['client-secret']}`).toString('base64');
  const request = async () => {
    const headers = { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' };
    if (session) headers.dpop = await session.buildProof({ htm: 'POST', htu: metadata.token_endpoint });
    return proofCheckingFetch(metadata.token_endpoint, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
    });
  };
  let response = await request();
  // oidc-provider requires nonces of proofs (RFC 9449 §8): 400 use_dpop_nonce, and its nonce.
  if (session && response.status === 400) {
    const error = (await response.clone().json()).error;
    assert(error === 'use_dpop_nonce' && response.headers.get('dpop-nonce'), `token endpoint: 400 ${error}`);
    session.observeNonce(response, metadata.token_endpoint);
    response = await request();
  }
  const json = await response.json();
  assert(response.status === 200, `token endpoint: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

run(transcript, 90_000, async () => {
  transcript.line(
    `DPoP with oidc-provider ${args.issuer} and the TypeScript SDK ${SDK2_VERSION} (@modelcontextprotocol/client): ` +
      `billing --dpop accept ${mcpUrl.href}, billing --dpop require ${requireUrl.href}`,
  );

  // --- 1. the SDK's flow, both eras ------------------------------------------------------------
  const session = await DpopSession.create();
  transcript.step(`the SDK's DpopSession: ${session.alg} key, thumbprint ${session.thumbprint.slice(0, 12)}…`);
  const provider = new DpopProvider(session, {
    transcript,
    fetchFn: proofCheckingFetch,
    unauthorizedError: UnauthorizedError,
    clientName: 'mcp-auth interop (TypeScript SDK 2.x, DPoP)',
    query: true,
  });
  const connection = (era) =>
    sdkConnection(era, mcpUrl, { authProvider: provider, fetch: proofCheckingFetch, name: 'mcp-auth-interop-dpop' });

  await authorizeFirst({
    transcript,
    provider,
    connection: () => connection(MODERN),
    UnauthorizedError,
    mcpUrl,
    what: 'server/discover',
  });
  const atTokenEndpoint = proofs.filter((p) => p.to === 'oidc-provider').length;
  assert(atTokenEndpoint >= 2, `the token request carried a proof, then another with the nonce (${atTokenEndpoint})`);
  const tokens = provider.tokens();
  assert(tokens.token_type?.toLowerCase() === 'dpop', `token_type ${tokens.token_type}`);
  const { header, claims } = decode(tokens.access_token);
  assert(claims.cnf?.jkt === session.thumbprint, `cnf.jkt ${claims.cnf?.jkt} is the key's thumbprint`);
  assert(claims.aud === mcpUrl.href, `aud ${claims.aud}`);
  transcript.step(
    `token request with a proof: oidc-provider asked for its nonce (400 use_dpop_nonce), the SDK sent a new proof with it; ` +
      `token_type ${tokens.token_type}, JWT typ=${header.typ} aud=${claims.aud} cnf.jkt = the key's thumbprint`,
  );

  let { transport, client } = connection(MODERN);
  await client.connect(transport);
  assert(client.getNegotiatedProtocolVersion() === MODERN, `negotiated ${client.getNegotiatedProtocolVersion()}`);
  assert(!transport.sessionId, 'a 2026-07-28 connection has no session');
  transcript.step(`connected in ${MODERN} (server/discover with Authorization: DPoP and a proof), no session`);
  await listAndLookup(transcript, client);
  const voidCall = () => client.callTool({ name: 'void_invoice', arguments: { invoice_id: 'INV-2044' } });
  const before = provider.authorizations.length;
  const voided = await provider.authorized(transport, voidCall, 'step-up');
  assertSteppedUp({ transcript, provider, before, voided, invoice: 'INV-2044' });
  assert(forbidden.length === 1 && /^DPoP\s/.test(forbidden[0]), `the 403 challenge: ${forbidden}`);
  assert(/error="insufficient_scope"/.test(forbidden[0]), `the 403 challenge: ${forbidden[0]}`);
  transcript.step(`the step-up challenge came in the scheme the client used: 403 ${summarizeChallenge(forbidden[0])}`);
  const stepped = decode(provider.tokens().access_token).claims;
  assert(stepped.cnf?.jkt === session.thumbprint, 'the stepped-up token is bound to the same key');
  transcript.step('the stepped-up token is DPoP-bound to the same key');
  await transport.close();

  ({ transport, client } = connection(LEGACY));
  await client.connect(transport);
  assert(transport.sessionId, 'the initialize response carries an Mcp-Session-Id');
  transcript.step(`initialized in ${LEGACY} with a proof: Mcp-Session-Id ${transport.sessionId.slice(0, 8)}…`);
  await listAndLookup(transcript, client);
  await transport.terminateSession();
  await transport.close();
  transcript.step('session terminated (DELETE, with a proof)');

  const toBilling = proofs.filter((p) => p.to === 'billing');
  const unique = new Set(proofs.map((p) => p.jti));
  assert(unique.size === proofs.length, `${proofs.length - unique.size} proof(s) were sent twice`);
  transcript.step(
    `the SDK sent ${toBilling.length} proofs to billing and ${proofs.length - toBilling.length} to oidc-provider, ` +
      `every one with a new jti, htm/htu of its request, ath with the token (${[...new Set(proofs.map((p) => p.alg))].join(', ')})`,
  );

  // --- 2. by hand: replay, and the same token as Bearer ------------------------------------
  const token = provider.tokens().access_token;
  const proof = await proofFor(session, mcpUrl, token);
  const first = await dpopCall(mcpUrl, token, proof);
  assertLookedUp(first, 'a fresh proof');
  transcript.step('tools/call with a fresh proof (the SDK\'s DpopSession.buildProof): 200');
  const replayed = await dpopCall(mcpUrl, token, proof);
  replays += 1;
  assert(replayed.status === 401, `the replayed proof: ${replayed.status}`);
  assert(/invalid_dpop_proof/.test(replayed.challenge), `challenge of the replay: ${replayed.challenge}`);
  transcript.step('the same proof again: 401 invalid_dpop_proof (jti already seen)');
  const asBearer = await modernToolCall(proofCheckingFetch, mcpUrl, token, 'lookup_invoice', { invoice_id: 'INV-2041' });
  assert(asBearer.status === 401, `the DPoP-bound token as Bearer: ${asBearer.status} ${asBearer.text.slice(0, 200)}`);
  transcript.step(`the DPoP-bound token as Bearer, no proof: 401 (${summarizeChallenge(asBearer.challenge)})`);
  assertLookedUp(await freshCall(session, mcpUrl, token), 'a fresh proof after the refusals');
  transcript.step('a fresh proof after the refusals: 200');

  // --- 3. billing --dpop require -------------------------------------------------------------
  const prmUrl = new URL(`/.well-known/oauth-protected-resource${requireUrl.pathname}`, requireUrl);
  const prm = await (await proofCheckingFetch(prmUrl)).json();
  assert(prm.dpop_bound_access_tokens_required === true, `require: metadata ${JSON.stringify(prm)}`);
  assert(prm.dpop_signing_alg_values_supported?.includes('ES256'), `algs: ${prm.dpop_signing_alg_values_supported}`);
  transcript.step(
    `--dpop require: metadata dpop_bound_access_tokens_required=true, ` +
      `dpop_signing_alg_values_supported=${prm.dpop_signing_alg_values_supported.join(' ')}`,
  );
  const bearer = await clientCredentials(requireUrl.href, 'invoices:read', undefined);
  assert(bearer.token_type.toLowerCase() === 'bearer' && !decode(bearer.access_token).claims.cnf, 'a plain bearer token');
  const refused = await modernToolCall(proofCheckingFetch, requireUrl, bearer.access_token, 'lookup_invoice', {
    invoice_id: 'INV-2041',
  });
  assert(refused.status === 401, `require, bearer token: ${refused.status}`);
  assert(/(^|,)\s*DPoP(\s|,|$)/.test(refused.challenge), `require, challenge: ${refused.challenge}`);
  transcript.step(`--dpop require, a plain bearer token (client_credentials, no proof): 401 with the DPoP challenge`);

  const bound = await clientCredentials(requireUrl.href, 'invoices:read', session);
  assert(bound.token_type.toLowerCase() === 'dpop', `token_type ${bound.token_type}`);
  assert(decode(bound.access_token).claims.cnf?.jkt === session.thumbprint, 'client_credentials cnf.jkt');
  transcript.step('client_credentials with a proof (and oidc-provider\'s nonce): token_type DPoP, cnf.jkt = the key\'s thumbprint');
  assertLookedUp(await freshCall(session, requireUrl, bound.access_token), 'require, DPoP-bound token');
  transcript.step(`--dpop require, ${MODERN} tools/call with the DPoP-bound token and a fresh proof: 200`);

  // The handshake era on the require server through the SDK, with the token obtained above.
  // The SDK's documented way for a token obtained out of band: `withDpop` around the fetch,
  // a minimal AuthProvider.
  const legacy = new StreamableHTTPClientTransport(requireUrl, {
    authProvider: { token: async () => bound.access_token },
    fetch: withDpop(session, async () => bound.access_token)(proofCheckingFetch),
  });
  const legacyClient = new Client({ name: 'mcp-auth-interop-dpop', version: '1.0.0' });
  await legacyClient.connect(legacy);
  assert(legacy.sessionId, 'require: initialize answered with a session');
  await listAndLookup(transcript, legacyClient);
  await legacy.terminateSession();
  await legacy.close();
  transcript.step(`--dpop require, ${LEGACY} through the SDK (initialize, session, tools/list, tools/call, DELETE): OK`);

  const all = new Set(proofs.map((p) => p.jti));
  assert(all.size === proofs.length - replays, 'every proof of the scenario but the replayed one was new');
  transcript.step(`${proofs.length} proofs in all, ${all.size} distinct: only the deliberate replay was sent twice`);
});
