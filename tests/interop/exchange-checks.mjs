// Scenario exchange-oidc-provider: the RFC 8693 token-exchange grant registered on node
// oidc-provider (tests/lib/oidc-token-exchange.mjs), checked against oidc-provider alone, with
// the clients exchange-setup.mjs wrote to DIR/clients.json (one authenticating with
// private_key_jwt, one with client_secret_post): what it issues, and what it refuses.
//
//   node exchange-checks.mjs --issuer http://127.0.0.1:P --dir DIR --service-client ID --service-secret SECRET
//
// (the service client: a confidential client_credentials client of the same oidc-provider,
// which may not exchange tokens; the private_key_jwt client also acts for a resource whose
// tokens live 5 s, oidc-server.mjs --short-lived-resource, for the expiry checks)
import { generateKeyPairSync } from 'node:crypto';

import { Transcript, assert, options, recordingFetch, run } from '../lib/scenario.mjs';
import {
  ACCESS_TOKEN_TYPE,
  TOKEN_EXCHANGE,
  clientAssertion,
  clientAuthentication,
  decode,
  discover,
  exchange,
  registeredClients,
  userToken,
} from './exchange-client.mjs';

const args = options();
const transcript = new Transcript('exchange-oidc-provider');
const fetchFn = recordingFetch(transcript);
const USER_SCOPE = 'invoices:read invoices:write payments:write';

/** Each registered client with its credential and policy. */
const clients = registeredClients(args.dir);

/**
 * The exchange was refused with `status` and OAuth `error`, for the reason `why` (matched
 * against the description) when given: a refusal for another reason fails the check.
 */
function assertRefused(answer, status, error, what, why = undefined) {
  assert(
    answer.status === status && answer.json.error === error && (!why || why.test(answer.json.error_description)),
    `${what}: expected ${status} ${error} ${why ?? ''}, got ${answer.status} ${JSON.stringify(answer.json)}`,
  );
  transcript.step(`${what}: ${status} ${error} (${answer.json.error_description})`);
}

run(transcript, 60_000, async () => {
  transcript.line(`token exchange (RFC 8693) at oidc-provider ${args.issuer}, checked without billing`);
  const metadata = await discover(fetchFn, args.issuer);
  assert(
    metadata.grant_types_supported.includes(TOKEN_EXCHANGE),
    `grant_types_supported ${metadata.grant_types_supported}`,
  );
  for (const method of ['private_key_jwt', 'client_secret_post']) {
    assert(metadata.token_endpoint_auth_methods_supported.includes(method), `auth methods: no ${method}`);
  }
  transcript.step(
    `metadata: grant_types_supported has the token-exchange grant; token_endpoint_auth_methods_supported ` +
      `${metadata.token_endpoint_auth_methods_supported.join(' ')}`,
  );
  const tokenEndpoint = metadata.token_endpoint;
  const auth = (client) => clientAuthentication(client, tokenEndpoint);

  // --- what is issued, for each client --------------------------------------------------------
  const subjects = new Map();
  for (const client of clients) {
    const user = await userToken(fetchFn, metadata, client.actsFor, USER_SCOPE);
    const subject = decode(user.access_token).claims;
    assert(subject.aud === client.actsFor && subject.sub === 'alice', `user token: ${JSON.stringify(subject)}`);
    subjects.set(client.id, user.access_token);
    transcript.step(`alice's token for ${client.actsFor} (authorization code, PKCE): scope "${subject.scope}"`);

    const answer = await exchange(fetchFn, tokenEndpoint, auth(client), user.access_token, {
      resource: client.payments,
      scope: 'payments:write',
    });
    assert(answer.status === 200, `exchange by ${client.id}: ${answer.status} ${JSON.stringify(answer.json)}`);
    const { json } = answer;
    assert(json.issued_token_type === ACCESS_TOKEN_TYPE, `issued_token_type ${json.issued_token_type}`);
    assert(json.token_type === 'Bearer', `token_type ${json.token_type}`);
    assert(json.scope === 'payments:write', `scope ${json.scope}`);
    assert(!json.refresh_token, 'no refresh token');
    const remaining = subject.exp - Math.floor(Date.now() / 1000);
    assert(
      json.expires_in > 0 && json.expires_in <= remaining + 1,
      `expires_in ${json.expires_in}, subject ${remaining}`,
    );
    const { header, claims } = decode(json.access_token);
    assert(header.typ === 'at+jwt', `typ ${header.typ}`);
    assert(claims.iss === args.issuer, `iss ${claims.iss}`);
    assert(claims.aud === client.payments, `aud ${claims.aud}`);
    assert(claims.sub === 'alice', `sub ${claims.sub}`);
    assert(claims.tenant === 'acme', `tenant ${claims.tenant}`);
    assert(claims.client_id === client.id, `client_id ${claims.client_id}`);
    assert(JSON.stringify(claims.act) === JSON.stringify({ sub: client.id }), `act ${JSON.stringify(claims.act)}`);
    assert(claims.exp <= subject.exp, `exp ${claims.exp} after the subject's ${subject.exp}`);
    transcript.step(
      `exchanged by ${client.id} (${client.method}): 200 issued_token_type=access_token token_type=Bearer ` +
        `expires_in=${json.expires_in} (subject: ${remaining}); JWT typ=${header.typ} aud=${claims.aud} ` +
        `sub=${claims.sub} tenant=${claims.tenant} client_id=${claims.client_id} act=${JSON.stringify(claims.act)} scope="${claims.scope}"`,
    );
  }

  const [jwtClient, postClient] = clients;
  assert(jwtClient.method === 'private_key_jwt' && postClient.method === 'client_secret_post', 'the two clients');
  const subject = subjects.get(jwtClient.id);

  // `audience` instead of `resource`, and no `scope` (the subject's scopes the target offers).
  const byAudience = await exchange(fetchFn, tokenEndpoint, auth(postClient), subjects.get(postClient.id), {
    audience: postClient.payments,
  });
  assert(
    byAudience.status === 200 && byAudience.json.scope === 'payments:write',
    `audience: ${JSON.stringify(byAudience.json)}`,
  );
  assert(decode(byAudience.json.access_token).claims.aud === postClient.payments, 'audience: aud');
  transcript.step(
    'audience= instead of resource=, no scope: 200, scope "payments:write" (what the subject holds and the target offers)',
  );

  // --- what is refused --------------------------------------------------------------------------
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), subject, {
      resource: postClient.payments,
      scope: 'payments:write',
    }),
    400,
    'invalid_target',
    `${jwtClient.id} asks for ${postClient.payments}, an audience it may not exchange for`,
    /may not exchange for that audience/,
  );
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), subject, {
      resource: jwtClient.actsFor,
      scope: 'invoices:read',
    }),
    400,
    'invalid_target',
    `${jwtClient.id} asks for ${jwtClient.actsFor} (the MCP resource itself)`,
    /may not exchange for that audience/,
  );
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), subject, {
      resource: jwtClient.payments,
      scope: 'payments:approve',
    }),
    400,
    'invalid_scope',
    'scope widening: payments:approve, which the subject token does not hold',
    /does not hold payments:approve/,
  );
  const reader = await userToken(fetchFn, metadata, jwtClient.actsFor, 'invoices:read');
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), reader.access_token, {
      resource: jwtClient.payments,
      scope: 'payments:write',
    }),
    400,
    'invalid_scope',
    'scope widening: payments:write from a subject token with invoices:read only',
    /does not hold payments:write/,
  );
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), reader.access_token, { resource: jwtClient.payments }),
    400,
    'invalid_scope',
    "no scope asked, none of the subject token's applies to payments",
    /no scope of the subject token/,
  );
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), subjects.get(postClient.id), {
      resource: jwtClient.payments,
      scope: 'payments:write',
    }),
    400,
    'invalid_grant',
    `${jwtClient.id} exchanges a token issued for ${postClient.actsFor} (another server's)`,
    /not issued for this client/,
  );
  const exchanged = await exchange(fetchFn, tokenEndpoint, auth(jwtClient), subject, { resource: jwtClient.payments });
  assert(exchanged.status === 200, 'exchange for the re-exchange check');
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), exchanged.json.access_token, {
      resource: jwtClient.payments,
    }),
    400,
    'invalid_grant',
    'the exchanged payments token as subject token (its audience is payments)',
    /not issued for this client/,
  );
  const [h, p, s] = subject.split('.');
  const widened = Buffer.from(
    JSON.stringify({ ...decode(subject).claims, scope: `${USER_SCOPE} payments:approve` }),
  ).toString('base64url');
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), `${h}.${widened}.${s}`, {
      resource: jwtClient.payments,
      scope: 'payments:approve',
    }),
    400,
    'invalid_grant',
    'a subject token whose claims were edited (scope widened), signature kept',
    /signature is invalid/,
  );
  assert(p !== widened, 'the edit changed the claims');
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), 'not-a-token', { resource: jwtClient.payments }),
    400,
    'invalid_grant',
    'an opaque string as subject token',
    /not a JWT access token/,
  );

  // A subject token about to expire: the exchanged token lives no longer; once it has
  // expired, it is refused.
  const [shortLived] = jwtClient.alsoActsFor;
  assert(shortLived, `${jwtClient.id} acts for a short-lived resource too`);
  const brief = await userToken(fetchFn, metadata, shortLived, USER_SCOPE);
  const briefExp = decode(brief.access_token).claims.exp;
  const capped = await exchange(fetchFn, tokenEndpoint, auth(jwtClient), brief.access_token, {
    resource: jwtClient.payments,
  });
  assert(capped.status === 200, `short-lived subject: ${capped.status} ${JSON.stringify(capped.json)}`);
  const cappedExp = decode(capped.json.access_token).claims.exp;
  assert(
    capped.json.expires_in <= 5 && cappedExp <= briefExp,
    `expires_in ${capped.json.expires_in}, exp ${cappedExp}`,
  );
  transcript.step(
    `a subject token with ${briefExp - Math.floor(Date.now() / 1000)} s left: exchanged, expires_in ${capped.json.expires_in} ` +
      '(the payments token lives no longer than its subject)',
  );
  await new Promise((resolve) => setTimeout(resolve, (briefExp + 1) * 1000 - Date.now()));
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, auth(jwtClient), brief.access_token, { resource: jwtClient.payments }),
    400,
    'invalid_grant',
    'the same subject token once expired',
    /has expired/,
  );
  const forbiddenAuthorization = await userToken(fetchFn, metadata, jwtClient.payments, 'payments:write').then(
    () => undefined,
    (err) => err,
  );
  assert(
    /invalid_target/.test(String(forbiddenAuthorization?.message)),
    `authorization for payments: ${forbiddenAuthorization}`,
  );
  transcript.step(
    'payments is reachable through token exchange only: an authorization request for it ends in error=invalid_target',
  );

  // --- client authentication --------------------------------------------------------------------
  const { privateKey: stranger } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const forged = { ...jwtClient, key: stranger };
  assertRefused(
    await exchange(
      fetchFn,
      tokenEndpoint,
      {
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: clientAssertion(forged, tokenEndpoint),
      },
      subject,
      { resource: jwtClient.payments },
    ),
    401,
    'invalid_client',
    `a client assertion for ${jwtClient.id} signed with another key`,
  );
  const once = auth(jwtClient);
  assert(
    (await exchange(fetchFn, tokenEndpoint, once, subject, { resource: jwtClient.payments })).status === 200,
    'first use',
  );
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, once, subject, { resource: jwtClient.payments }),
    401,
    'invalid_client',
    'the same client assertion again (its jti is spent)',
  );
  assertRefused(
    await exchange(
      fetchFn,
      tokenEndpoint,
      { client_id: postClient.id, client_secret: `${postClient.secret}x` },
      subjects.get(postClient.id),
      { resource: postClient.payments },
    ),
    401,
    'invalid_client',
    `${postClient.id} with a wrong client_secret`,
  );
  assertRefused(
    await exchange(
      fetchFn,
      tokenEndpoint,
      { client_id: args['service-client'], client_secret: args['service-secret'] },
      subject,
      { resource: jwtClient.payments },
    ),
    400,
    // RFC 6749 §5.2 names this unauthorized_client; oidc-provider checks a client's
    // grant_types before any grant handler runs, and answers invalid_request.
    'invalid_request',
    `${args['service-client']}, a confidential client without the token-exchange grant (client_credentials only)`,
    /grant type is not allowed for this client/,
  );
  assertRefused(
    await exchange(fetchFn, tokenEndpoint, {}, subject, { resource: jwtClient.payments }),
    400,
    'invalid_request',
    'no client authentication at all',
    /no client authentication/,
  );
});
