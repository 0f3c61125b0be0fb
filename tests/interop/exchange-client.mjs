// The client side of RFC 8693 token exchange at oidc-provider, written by hand for the exchange
// scenarios (exchange-checks.mjs, exchange-flow.mjs): a user's access token by the
// authorization code flow (PKCE, no browser), client authentication by private_key_jwt
// (RFC 7523, signed with node:crypto) or client_secret_post, and the exchange request itself.
// What billing does in Rust, done independently here, so that the two can be compared.
import { createHash, createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { assert, followAuthorization } from '../lib/scenario.mjs';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** The decoded header and claims of a JWT, or undefined for anything else. */
export function decode(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return undefined;
  const [header, claims] = parts.slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  return { header, claims };
}

/** oidc-provider's OpenID metadata. */
export async function discover(fetchFn, issuer) {
  const response = await fetchFn(`${issuer}/.well-known/openid-configuration`);
  assert(response.status === 200, `metadata: ${response.status}`);
  return response.json();
}

/**
 * alice's access token for `resource` with `scope`, by the authorization code flow: a public
 * client registered for the purpose (RFC 7591), PKCE S256, oidc-provider's interaction
 * answered at once (tests/lib/oidc-server.mjs). Returns the token response.
 */
export async function userToken(fetchFn, metadata, resource, scope) {
  const redirectUri = 'http://127.0.0.1:47612/callback';
  const registration = await fetchFn(metadata.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'mcp-auth interop (token exchange user)',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  const client = await registration.json();
  assert(registration.status === 201, `registration: ${registration.status} ${JSON.stringify(client)}`);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomUUID();
  const authorization = new URL(metadata.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope,
    resource,
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  })) {
    authorization.searchParams.set(k, v);
  }
  const back = await followAuthorization(fetchFn, authorization, redirectUri);
  assert(back.searchParams.get('state') === state && back.searchParams.get('code'), `authorization: ${back.search}`);
  const response = await fetchFn(metadata.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code'),
      redirect_uri: redirectUri,
      client_id: client.client_id,
      code_verifier: verifier,
      resource,
    }),
  });
  const json = await response.json();
  assert(response.status === 200, `code for token: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/**
 * A confidential client of the exchange: `{ id, secret }` (client_secret_post) or
 * `{ id, key, alg }` (private_key_jwt with a PEM private key file; ES256 or RS256), read from
 * the files exchange-setup.mjs wrote.
 */
export function exchangeClient({ id, secretFile, keyFile, alg }) {
  if (keyFile) return { id, key: createPrivateKey(readFileSync(keyFile)), alg: alg ?? 'ES256' };
  return { id, secret: readFileSync(secretFile, 'utf8').trim() };
}

/**
 * The clients exchange-setup.mjs registered in DIR: each with its credential (exchangeClient),
 * `method` (its token endpoint authentication), `actsFor` (its MCP resource), `alsoActsFor`
 * (other audiences its subject tokens may name) and `payments` (the audience it may exchange
 * for).
 */
export function registeredClients(dir) {
  return JSON.parse(readFileSync(join(dir, 'clients.json'), 'utf8')).map((c) => ({
    ...exchangeClient({
      id: c.client_id,
      keyFile: c.token_endpoint_auth_method === 'private_key_jwt' ? join(dir, `${c.client_id}.pem`) : undefined,
      secretFile: join(dir, `${c.client_id}.secret`),
      alg: c.token_endpoint_auth_signing_alg,
    }),
    method: c.token_endpoint_auth_method,
    actsFor: c.acts_for[0],
    alsoActsFor: c.acts_for.slice(1),
    payments: c.may_exchange_for[0],
  }));
}

/**
 * An RFC 7523 client assertion: `iss` = `sub` = the client id, `aud` the token endpoint, a
 * fresh `jti`, one minute of life. `overrides` replaces claims (for the refusals).
 */
export function clientAssertion(client, audience, overrides = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: client.alg, typ: 'JWT' };
  const claims = {
    iss: client.id,
    sub: client.id,
    aud: audience,
    jti: randomUUID(),
    iat: now,
    exp: now + 60,
    ...overrides,
  };
  const input = [header, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.');
  // ES256 and RS256 both hash with SHA-256; ES256 wants the raw r||s signature (RFC 7518 §3.4).
  const signature = sign('sha256', Buffer.from(input), {
    key: client.key,
    ...(client.alg.startsWith('ES') && { dsaEncoding: 'ieee-p1363' }),
  });
  return `${input}.${signature.toString('base64url')}`;
}

/** The client authentication parameters of a token request by `client`. */
export function clientAuthentication(client, tokenEndpoint) {
  if (client.key) {
    return {
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion(client, tokenEndpoint),
    };
  }
  return { client_id: client.id, client_secret: client.secret };
}

/**
 * A token-exchange request: `subject` (an access token) for `params` (`resource`, `audience`,
 * `scope`, any other parameter), with `auth` as the client authentication. Resolves to
 * `{ status, json }`.
 */
export async function exchange(fetchFn, tokenEndpoint, auth, subject, params) {
  const body = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE,
    subject_token: subject,
    subject_token_type: ACCESS_TOKEN_TYPE,
    ...auth,
  });
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) body.append(k, v);
  }
  const response = await fetchFn(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  return { status: response.status, json: await response.json() };
}
