// RFC 8693 token exchange for node oidc-provider, which has no such grant of its own: a handler
// registered with `provider.registerGrantType`, so that an MCP server (billing) can swap the
// user's access token for one naming a downstream API (payments) instead of passing the user's
// token on, as the MCP specification requires.
//
// The policy is per confidential client: the audiences its subject tokens must name (the MCP
// server it is; a token for another server cannot be swapped by this one), and the audiences it
// may exchange for. The issued token is a JWT access token (RFC 9068) of the downstream
// resource, for the same subject and tenant, with `client_id` the exchanging client and
// `act: { sub: <client id> }` (RFC 8693 §4.1, a prior `act` nested in it); its scopes are
// never wider than the subject token's, and it lives no longer than the subject token.
import { verify as verifySignature } from 'node:crypto';

import { errors } from 'oidc-provider';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** The subject token types accepted: this AS's JWT access tokens, called either way. */
const SUBJECT_TOKEN_TYPES = new Set([ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE]);

/** The extra claims (`act`, `tenant`) of each token this grant issues, for `extraTokenClaims`. */
const exchanged = new WeakMap();

/**
 * The claims `extraTokenClaims` must add to `token` if this grant issued it, else undefined.
 * oidc-provider recomputes a token's extra claims through that hook when it signs the token,
 * so the grant cannot set them on the token itself.
 */
export function exchangeClaims(token) {
  return exchanged.get(token);
}

/**
 * `invalid_grant` saying why: oidc-provider's own InvalidGrant answers "grant request is
 * invalid" whatever the cause, and the scenarios check that a refusal has the right one.
 */
function invalidGrant(description) {
  return new errors.CustomOIDCProviderError('invalid_grant', description);
}

/** One parameter that may be repeated (`resource`, `audience`), as a list. */
function list(value) {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * The claims of `jwt` if it is an access token this AS signed (`typ: at+jwt`, RS256 with
 * `publicKey`, `iss` this issuer) that has not expired; throws `invalid_grant` otherwise.
 */
function verifiedSubject(jwt, { issuer, publicKey }) {
  const invalid = (why) => invalidGrant(`subject_token ${why}`);
  const parts = jwt.split('.');
  if (parts.length !== 3) throw invalid('is not a JWT access token of this issuer');
  let header;
  let claims;
  try {
    [header, claims] = parts.slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  } catch {
    throw invalid('is not a JWT access token of this issuer');
  }
  if (header.alg !== 'RS256' || header.typ !== 'at+jwt') throw invalid('is not an access token of this issuer');
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  if (!verifySignature('sha256', signed, publicKey, Buffer.from(parts[2], 'base64url'))) {
    throw invalid('signature is invalid');
  }
  if (claims.iss !== issuer) throw invalid('was issued by another issuer');
  if (typeof claims.exp !== 'number' || claims.exp <= Math.floor(Date.now() / 1000)) throw invalid('has expired');
  if (typeof claims.sub !== 'string') throw invalid('names no subject');
  return claims;
}

/**
 * Registers the token-exchange grant on `provider`.
 *
 * - `publicKey`: the key this AS signs its access tokens with (subject tokens are verified
 *   with it, so only this AS's tokens can be exchanged).
 * - `policy`: `Map` of client id → `{ actsFor: Set, mayExchangeFor: Set }` (audiences).
 * - `resourceServer(identifier)`: the oidc-provider resource server info of a downstream
 *   (scope, TTL, JWT format), as `getResourceServerInfo` returns it.
 * - `onExchange({ client, auth, target, subject, scope })`, optional: called for each token
 *   issued (no token in it).
 *
 * A client also needs the grant in its `grant_types`; oidc-provider refuses the grant to any
 * other client before the handler runs (`invalid_request`).
 */
export function registerTokenExchange(provider, { publicKey, policy, resourceServer, onExchange }) {
  async function tokenExchange(ctx) {
    const { client, params } = ctx.oidc;
    const allowed = policy.get(client.clientId);
    if (!allowed) throw new errors.UnauthorizedClient('this client may not exchange tokens');

    if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter subject_token');
    if (!SUBJECT_TOKEN_TYPES.has(params.subject_token_type)) {
      throw new errors.InvalidRequest('unsupported subject_token_type');
    }
    // The client itself is the actor: delegation with an actor token is not offered.
    if (params.actor_token !== undefined || params.actor_token_type !== undefined) {
      throw new errors.InvalidRequest('actor_token is not supported');
    }
    if (params.requested_token_type !== undefined && !SUBJECT_TOKEN_TYPES.has(params.requested_token_type)) {
      throw new errors.InvalidRequest('unsupported requested_token_type');
    }

    const subject = verifiedSubject(params.subject_token, { issuer: provider.issuer, publicKey });
    // A client swaps only tokens that were meant for it: another server's token is not its to
    // trade (the confused deputy RFC 8693 §5 warns of).
    const audiences = list(subject.aud);
    if (!audiences.some((aud) => allowed.actsFor.has(aud))) {
      throw invalidGrant('subject_token was not issued for this client');
    }

    // `resource` (a URI) and `audience` (a logical name) name the same thing here: one target.
    const targets = [...new Set([...list(params.resource), ...list(params.audience)])];
    if (targets.length !== 1) throw new errors.InvalidTarget('name exactly one resource or audience');
    const [target] = targets;
    if (!allowed.mayExchangeFor.has(target)) {
      throw new errors.InvalidTarget('this client may not exchange for that audience');
    }
    const info = resourceServer(target);

    const held = new Set(subject.scope?.split(' ').filter(Boolean));
    const offered = new Set(info.scope.split(' '));
    const requested = params.scope ? params.scope.split(' ').filter(Boolean) : [...held].filter((s) => offered.has(s));
    if (requested.length === 0) throw new errors.InvalidScope('no scope of the subject token applies to that audience');
    for (const scope of requested) {
      if (!held.has(scope)) throw new errors.InvalidScope(`the subject token does not hold ${scope}`);
      if (!offered.has(scope)) throw new errors.InvalidScope(`${scope} is not a scope of that audience`);
    }

    const remaining = subject.exp - Math.floor(Date.now() / 1000);
    const token = new provider.AccessToken({
      accountId: subject.sub,
      client,
      gty: TOKEN_EXCHANGE,
      scope: requested.join(' '),
      resourceServer: new provider.ResourceServer(target, info),
      expiresIn: Math.min(info.accessTokenTTL, remaining),
    });
    exchanged.set(token, {
      ...(subject.tenant !== undefined && { tenant: subject.tenant }),
      act: { sub: client.clientId, ...(subject.act && { act: subject.act }) },
    });
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    // One line per exchange, never a token: the scenarios read it to see that billing did
    // exchange, as which client, and how it authenticated.
    onExchange?.({
      client: client.clientId,
      auth: client.clientAuthMethod,
      target,
      subject: subject.sub,
      scope: token.scope,
    });

    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: token.expiration,
      scope: token.scope,
    };
  }

  provider.registerGrantType(
    TOKEN_EXCHANGE,
    tokenExchange,
    [
      'subject_token',
      'subject_token_type',
      'actor_token',
      'actor_token_type',
      'requested_token_type',
      'resource',
      'audience',
      'scope',
    ],
    ['resource', 'audience'],
  );
}
