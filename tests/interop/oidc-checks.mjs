// Scenario 3, token checks: billing, started with `--issuer` pointing at oidc-provider, accepts
// that AS's RFC 9068 JWT access token for the billing resource and refuses its token for another
// resource and its opaque token.
//
//   node oidc-checks.mjs --issuer http://127.0.0.1:P --url http://127.0.0.1:B/mcp \
//     --other-resource http://127.0.0.1:B/reports --client-id ID --client-secret SECRET
import { Transcript, assert, modernToolCall, options, recordingFetch, run } from '../lib/scenario.mjs';

const args = options();
const transcript = new Transcript('oidc-provider');
const fetchFn = recordingFetch(transcript);

/** A client_credentials token from oidc-provider; `resource` omitted when undefined. */
async function clientCredentials(resource, scope) {
  const metadata = await (await fetchFn(`${args.issuer}/.well-known/openid-configuration`)).json();
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope });
  if (resource) body.set('resource', resource);
  const basic = Buffer.from(`${args['client-id']}:${args['client-secret']}`).toString('base64');
  const response = await fetchFn(metadata.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const json = await response.json();
  assert(response.status === 200, `token endpoint: ${response.status} ${JSON.stringify(json)}`);
  return json.access_token;
}

/** The decoded header and claims of a JWT, or undefined for an opaque token. */
function decode(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [header, claims] = parts.slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  return { header, claims };
}

/** tools/call lookup_invoice INV-2041 as one MCP 2026-07-28 request: no session. */
function callTool(token) {
  return modernToolCall(fetchFn, args.url, token, 'lookup_invoice', { invoice_id: 'INV-2041' });
}

run(transcript, 60_000, async () => {
  transcript.line(`oidc-provider ${args.issuer} as billing's authorization server (${args.url})`);

  const jwt = await clientCredentials(args.url, 'invoices:read');
  const decoded = decode(jwt);
  assert(decoded, 'a token for the billing resource is a JWT');
  const { header, claims } = decoded;
  assert(header.typ === 'at+jwt', `typ: ${header.typ}`);
  assert(claims.aud === args.url, `aud: ${claims.aud}`);
  assert(claims.iss === args.issuer, `iss: ${claims.iss}`);
  assert(claims.tenant === 'acme', `tenant: ${claims.tenant}`);
  transcript.step(
    `client_credentials with resource=billing: JWT typ=${header.typ} alg=${header.alg} ` +
      `aud=${claims.aud} scope="${claims.scope}" tenant=${claims.tenant}`,
  );
  const accepted = await callTool(jwt);
  assert(accepted.status === 200, `billing answered ${accepted.status}: ${accepted.text}`);
  const result = JSON.parse(accepted.text).result;
  assert(result && !result.isError, `tools/call failed: ${accepted.text}`);
  assert(JSON.stringify(result).includes('INV-2041'), 'lookup_invoice returns INV-2041');
  transcript.step('billing accepts it: tools/call lookup_invoice 200');

  const other = await clientCredentials(args['other-resource'], 'reports:read');
  assert(decode(other)?.claims.aud === args['other-resource'], 'the other token names the other resource');
  const refused = await callTool(other);
  assert(refused.status === 401, `a token for another resource: ${refused.status}`);
  assert(refused.challenge.includes('error="invalid_token"'), `challenge: ${refused.challenge}`);
  transcript.step(`token for ${args['other-resource']} (aud mismatch): 401 invalid_token`);

  const opaque = await clientCredentials(undefined, 'invoices:read');
  assert(decode(opaque) === undefined, 'without a resource the token is opaque');
  const refusedOpaque = await callTool(opaque);
  assert(refusedOpaque.status === 401, `an opaque token: ${refusedOpaque.status}`);
  assert(refusedOpaque.challenge.includes('error="invalid_token"'), `challenge: ${refusedOpaque.challenge}`);
  transcript.step(`opaque token (no resource, ${opaque.length} characters): 401 invalid_token`);
});
