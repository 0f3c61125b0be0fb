// A real third-party authorization server for the interop and cluster suites, node
// oidc-provider, configured the way an MCP deployment would configure it: RFC 8707 resource
// indicators with JWT access tokens (RFC 9068) for the billing resource, opaque tokens when no
// resource is named, client credentials for static confidential clients (one per principal the
// scenarios need), open dynamic client registration, a `tenant` claim, and a login/consent
// step that approves at once as alice of tenant acme (no UI). DPoP (RFC 9449) as oidc-provider
// ships it, with server nonces required at the token endpoint: a token request carrying a proof
// gets a DPoP-bound token (`token_type: DPoP`, `cnf.jkt` in the JWT); one without stays Bearer.
// With `--exchange-clients`, RFC 8693 token exchange (oidc-token-exchange.mjs) for the
// confidential clients that file lists, towards the `--payments-resource` audiences.
//
//   node oidc-server.mjs --port P --resource http://127.0.0.1:B/mcp[,http://127.0.0.1:C/mcp...] \
//     [--clients ID:SECRET,ID:SECRET,...] [--other-resource http://127.0.0.1:B/reports] \
//     [--payments-resource http://127.0.0.1:B/payments[,...] --exchange-clients FILE] \
//     [--short-lived-resource URI]
//
// FILE is a JSON array of client metadata (`client_id`, `token_endpoint_auth_method`, and
// `client_secret` or `jwks`), each with `acts_for` (the audiences of the subject tokens it may
// exchange: its own MCP resource) and `may_exchange_for` (the audiences it may get tokens for).
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { Provider, errors } from 'oidc-provider';

import { TOKEN_EXCHANGE, exchangeClaims, registerTokenExchange } from './oidc-token-exchange.mjs';
import { options } from './scenario.mjs';

const args = options();
const port = Number(args.port);
const issuer = `http://127.0.0.1:${port}`;
const BILLING_SCOPES = 'invoices:read invoices:write payments:write';
/** The scope of the payments API, the downstream of token exchange. */
const PAYMENTS_SCOPES = 'payments:write';

/** Accounts and their tenants; the interaction below signs in as alice. */
const TENANTS = { alice: 'acme' };
/** The static confidential client acts for this tenant. */
const SERVICE_TENANT = 'acme';

// A fresh RS256 key for each run; billing discovers it through the OIDC metadata's jwks_uri.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'interop-rs256', use: 'sig', alg: 'RS256' };

/** Resource servers this AS mints JWT access tokens for, by resource indicator. */
const RESOURCE_SERVERS = {
  // One or more billing servers (a comma-separated list), each its own audience.
  ...Object.fromEntries(args.resource.split(',').map((resource) => [resource, { scope: BILLING_SCOPES }])),
  // Another API on the same host, when given: its tokens must not open billing.
  ...(args['other-resource'] && { [args['other-resource']]: { scope: 'reports:read' } }),
  // A resource whose tokens live 5 seconds, for the checks of expired tokens, when given.
  ...(args['short-lived-resource'] && { [args['short-lived-resource']]: { scope: BILLING_SCOPES, ttl: 5 } }),
};

/**
 * Payments APIs: reached through token exchange only. No authorization or client credentials
 * request gets a token for them (`invalid_target`), so a payments token always names its actor.
 */
const EXCHANGE_ONLY_SERVERS = Object.fromEntries(
  (args['payments-resource'] ?? '').split(',').filter(Boolean).map((r) => [r, { scope: PAYMENTS_SCOPES }]),
);

/**
 * The resource server info of an indicator this AS knows (`exchangeOnly`: of the token
 * exchange's targets); `invalid_target` for any other.
 */
function resourceServerInfo(resourceIndicator, exchangeOnly = false) {
  const server = (exchangeOnly ? EXCHANGE_ONLY_SERVERS : RESOURCE_SERVERS)[resourceIndicator];
  if (!server) throw new errors.InvalidTarget();
  return {
    scope: server.scope,
    audience: resourceIndicator,
    accessTokenFormat: 'jwt',
    accessTokenTTL: server.ttl ?? 600,
    jwt: { sign: { alg: 'RS256' } },
  };
}

/** Static confidential clients for client_credentials: each is a principal of its own. */
const STATIC_CLIENTS = (args.clients ?? '').split(',').filter(Boolean).map((pair) => {
  const colon = pair.indexOf(':');
  return {
    client_id: pair.slice(0, colon),
    client_secret: pair.slice(colon + 1),
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  };
});

/** The clients that may exchange tokens, and the exchange policy of each. */
const EXCHANGE_CLIENTS = args['exchange-clients'] ? JSON.parse(readFileSync(args['exchange-clients'], 'utf8')) : [];
const exchangePolicy = new Map(
  EXCHANGE_CLIENTS.map(({ client_id: id, acts_for: actsFor, may_exchange_for: targets }) => [
    id,
    { actsFor: new Set(actsFor), mayExchangeFor: new Set(targets) },
  ]),
);
const exchangeClients = EXCHANGE_CLIENTS.map(({ acts_for: _a, may_exchange_for: _m, ...metadata }) => ({
  ...metadata,
  grant_types: [TOKEN_EXCHANGE],
  redirect_uris: [],
  response_types: [],
}));

const configuration = {
  clients: [...STATIC_CLIENTS, ...exchangeClients],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  async findAccount(_ctx, id) {
    return { accountId: id, async claims() { return { sub: id }; } };
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // On by default in oidc-provider 9; spelled out because the DPoP scenarios rely on it.
    // Nonces (RFC 9449 §8) are required of every token request that carries a proof, so that
    // clients must handle `use_dpop_nonce`; requests without a proof are not affected.
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: () => true,
    },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No resource named and none granted: an opaque token (for userinfo), not a JWT.
      async defaultResource(_ctx, _client, oneOf) {
        return oneOf;
      },
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(_ctx, resourceIndicator) {
        return resourceServerInfo(resourceIndicator);
      },
    },
  },
  // MCP clients register with the scope of the first challenge (the TypeScript SDK does);
  // oidc-provider would keep it as the client's scope allow-list, and refuse the step-up to
  // another scope later. Registration scope is dropped: scopes are governed per resource
  // (getResourceServerInfo) and by the consent below.
  extraClientMetadata: {
    properties: ['scope'],
    validator(_ctx, key, _value, metadata) {
      if (key === 'scope') delete metadata.scope;
    },
  },
  async extraTokenClaims(_ctx, token) {
    const exchange = exchangeClaims(token);
    if (exchange) return exchange;
    if (token.kind === 'ClientCredentials') return { tenant: SERVICE_TENANT };
    return token.accountId && TENANTS[token.accountId] ? { tenant: TENANTS[token.accountId] } : undefined;
  },
  interactions: {
    url(_ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  ttl: {
    // The resource server's lifetime (getResourceServerInfo's accessTokenTTL), as oidc-provider's
    // default does: a number here would override it for every resource.
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    Grant: 3600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
  },
};

const provider = new Provider(issuer, configuration);
if (exchangePolicy.size > 0) {
  registerTokenExchange(provider, {
    publicKey: createPublicKey(privateKey),
    policy: exchangePolicy,
    resourceServer: (indicator) => resourceServerInfo(indicator, true),
    // A JSON line on stdout (the suite's log of this server) per token issued.
    onExchange: (exchange) => console.log(`token-exchange ${JSON.stringify(exchange)}`),
  });
}

/**
 * The login and consent prompts, answered at once: sign in as alice, grant every scope the
 * request asks for (OIDC scopes and each resource's scopes). A real AS shows pages here.
 */
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  const result = {};
  if (prompt.name === 'login') {
    result.login = { accountId: 'alice' };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result.consent = { grantId: await grant.save() };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error('interaction failed:', err);
      res.statusCode = 500;
      res.end('interaction failed');
    });
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} ready`);
});
