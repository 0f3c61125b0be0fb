// The OAuthClientProvider of the TypeScript SDK scenarios (tests/interop, tests/cluster): kept in
// memory, and following the authorization URL over plain HTTP instead of opening a browser.
import { assert, followAuthorization } from './scenario.mjs';

// Loopback, as a native client's (RFC 8252 §7.3). Nothing listens there: the provider reads
// the code from the `Location` header that points at it.
const redirectUri = 'http://127.0.0.1:47611/callback';

/**
 * An OAuthClientProvider kept in memory. `redirectToAuthorization` follows the authorization
 * URL with `fetchFn` (redirect: 'manual', cookies kept) and keeps the final redirect's query.
 * `clientName` is registered; `query` says whether the transport's finishAuth takes the
 * redirect's whole query (SDK 2.x: code and RFC 9207 iss) or its code (1.x). Setting
 * `keepRefreshTokens` to false hands the SDK its tokens without the refresh token.
 * `unauthorizedError` is the SDK's UnauthorizedError class, which `authorized` recognizes.
 */
export class HeadlessProvider {
  constructor({ transcript, fetchFn, clientName, unauthorizedError, query = false }) {
    this.transcript = transcript;
    this.unauthorizedError = unauthorizedError;
    this.fetchFn = fetchFn;
    this.clientName = clientName;
    this.query = query;
    this.jar = new Map();
    this.authorizations = [];
    this.keepRefreshTokens = true;
  }

  get redirectUrl() {
    return redirectUri;
  }

  get clientMetadata() {
    return {
      client_name: this.clientName,
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
    this.transcript.step(`registered as client ${info.client_id} (registration scope: "${info.scope ?? ''}")`);
  }

  tokens() {
    if (!this.stored) return undefined;
    if (this.keepRefreshTokens) return this.stored;
    const { refresh_token: _dropped, ...rest } = this.stored;
    return rest;
  }

  saveTokens(tokens) {
    this.stored = tokens;
    this.transcript.step(
      `token saved: scope "${tokens.scope ?? ''}"${tokens.refresh_token ? ', with a refresh token' : ''}`,
    );
  }

  // SEP-2352 (2.x): the discovery result is kept with the code verifier, so that the callback
  // leg can check which authorization server issued the code.
  saveDiscoveryState(state) {
    this.discovery = state;
  }

  discoveryState() {
    return this.discovery;
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
    this.transcript.step(`authorization request: scope "${scope}", resource ${resource}, PKCE ${method}`);
    const back = await followAuthorization(this.fetchFn, authorizationUrl, redirectUri, this.jar);
    assert(!back.searchParams.has('error'), `authorization refused: ${back.search}`);
    assert(back.searchParams.get('state') === this.expectedState, 'the redirect carries our state');
    assert(back.searchParams.get('code'), 'the redirect carries a code');
    this.authorizations.push({ scope, resource, method });
    this.callback = back.searchParams;
  }

  /** What the transport's finishAuth takes: v1 the code, v2 the query (code and RFC 9207 iss). */
  takeCallback() {
    const { callback } = this;
    this.callback = undefined;
    if (!callback) return undefined;
    return this.query ? callback : callback.get('code');
  }

  /** Runs `call`; when it needs authorization, completes the code flow and runs it again. */
  async authorized(transport, call, what) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof this.unauthorizedError)) throw err;
      const callback = this.takeCallback();
      assert(callback, `${what}: the SDK asked for authorization and the provider got a code`);
      await transport.finishAuth(callback);
      return call();
    }
  }
}
