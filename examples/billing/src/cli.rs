//! The command line: `billing [serve] [OPTIONS]`, `billing token [OPTIONS]`, `billing payments
//! [OPTIONS]` and `billing apikey create|list|revoke`.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_auth_runtime::auth::{Dpop, DpopPolicy, JwtVerifierBuilder, ScopeClaim};

/// The billing MCP server: invoices of several tenants, behind OAuth 2.1 scopes.
///
/// Without `--issuer` or `--introspection-url` it runs its own development authorization
/// server on the same port, for local use only.
#[derive(Debug, Parser)]
#[command(
    name = "billing",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The options of `serve`, accepted without the subcommand's name.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The command to run, `serve` by default.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// A subcommand.
#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once at start-up; boxing would only complicate the pattern matches"
)]
pub enum Command {
    /// Serve the MCP endpoint (the default).
    Serve(ServeArgs),
    /// Print a development access token signed by the dev issuer's key, and nothing else.
    Token(TokenArgs),
    /// Serve the payments API alone: the downstream API `refund_invoice` records refunds at,
    /// for a second process (`billing serve --payments-url`).
    Payments(PaymentsArgs),
    /// Make, list and revoke API keys of the server started on the same data directory.
    Apikey(ApiKeyArgs),
}

/// Where the server keeps its files.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Directory of the database and of the dev issuer's signing key, created if missing.
    #[arg(long, env = "BILLING_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// Options of `billing serve`. Its `Debug` output shows no secret: the client secret and the
/// request-state keys are redacted, and so is the password of the Redis URL.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Must be loopback unless `--issuer` or `--introspection-url` is
    /// given.
    #[arg(long, env = "BILLING_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (the bound address is printed).
    #[arg(long, env = "BILLING_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Where the database and the signing key live.
    #[command(flatten)]
    pub data: DataArgs,
    /// The SQLite database file, or `:memory:` for one that lives as long as the process
    /// [default: DATA_DIR/billing.db].
    #[arg(long, env = "BILLING_DB")]
    pub db: Option<String>,
    /// Also write the audit trail as JSON lines to this file (created `0600`, rotated at
    /// 100 MiB, 10 kept), every request included: served ones, and refusals with their
    /// reason. The database's `audit` table keeps calls and refusals either way.
    #[arg(long, env = "BILLING_AUDIT_LOG", value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
    /// Dev issuer only: approve authorization requests at once, as alice of tenant acme,
    /// instead of showing the consent page.
    #[arg(long, env = "BILLING_AUTO_CONSENT", conflicts_with_all = ["issuer", "introspection_url"])]
    pub auto_consent: bool,
    /// Dev issuer only: a web origin whose pages may register clients and redeem codes from
    /// the browser (CORS on `/register` and `/token`), e.g. `http://localhost:6274` for the
    /// MCP Inspector's web UI; repeat it, or separate origins with spaces. None by default: a
    /// page you visit must not be able to obtain tokens.
    #[arg(
        long = "dev-cors-origin",
        env = "BILLING_DEV_CORS_ORIGINS",
        value_delimiter = ' ',
        conflicts_with_all = ["issuer", "introspection_url"]
    )]
    pub dev_cors_origins: Vec<String>,
    /// A scope to advertise to clients instead of every tool's scope; repeat it, or separate
    /// scopes with spaces. Clients request what is advertised (protected-resource metadata,
    /// the challenge to a request without a token) and step up through `403
    /// insufficient_scope` for the rest [default: every scope a tool requires].
    #[arg(
        long = "baseline-scope",
        env = "BILLING_BASELINE_SCOPES",
        value_delimiter = ' '
    )]
    pub baseline_scopes: Vec<String>,
    /// The authorization server (issuer) whose JWT access tokens are accepted, e.g.
    /// `http://localhost:8080/realms/master`. Turns the dev issuer off.
    #[arg(long, env = "BILLING_ISSUER_URL")]
    pub issuer: Option<String>,
    /// This server's canonical URI, the audience tokens must name [default:
    /// http://HOST:PORT/mcp].
    #[arg(long, env = "BILLING_RESOURCE_URL")]
    pub resource: Option<String>,
    /// Fetch the issuer's keys from this URL instead of discovering it.
    #[arg(long, env = "BILLING_JWKS_URL", requires = "issuer")]
    pub jwks_url: Option<String>,
    /// The claim holding the scopes: `scope` (RFC 9068, Keycloak, Auth0), `scp` (Entra ID,
    /// Okta), or any other claim name.
    #[arg(long, env = "BILLING_SCOPE_CLAIM", default_value = "scope")]
    pub scope_claim: String,
    /// The claim naming the caller's tenant.
    #[arg(long, env = "BILLING_TENANT_CLAIM", default_value = "tenant")]
    pub tenant_claim: String,
    /// Also accept JWT access tokens typed `JWT` or not typed at all (Microsoft Entra ID,
    /// Okta, Keycloak and Auth0 by default; see the README). Off: only `typ: at+jwt`.
    #[arg(long, env = "BILLING_ALLOW_UNTYPED_TOKENS", requires = "issuer")]
    pub allow_untyped_tokens: bool,
    /// Validate opaque tokens with this RFC 7662 introspection endpoint instead of JWTs. Turns
    /// the dev issuer off.
    #[arg(long, env = "BILLING_INTROSPECTION_URL", conflicts_with = "jwks_url")]
    pub introspection_url: Option<String>,
    /// Share handshake-era sessions and rate-limit counters with every other replica through
    /// this Redis, e.g. `redis://127.0.0.1:6379/` (see mcp-auth-runtime/docs/deployment.md). Without it both live in
    /// this process.
    // The URL may hold a password: `--help` must not show the variable's value.
    #[arg(long, env = "BILLING_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Requests per minute each caller (issuer, subject and client of its token) may send;
    /// `429` with `Retry-After` beyond it [default: no limit].
    #[arg(long, env = "BILLING_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// `TOOL=N`: calls per minute each caller may make of TOOL, counted on top of
    /// `--rate-limit`; repeat it, or separate entries with spaces.
    #[arg(
        long = "tool-rate-limit",
        env = "BILLING_TOOL_RATE_LIMITS",
        value_delimiter = ' ',
        value_parser = parse_tool_limit
    )]
    pub tool_rate_limits: Vec<(String, u32)>,
    /// How many verified access tokens to remember, so that a token seen before skips the
    /// signature check (JWTs) or the endpoint (introspection); `0` turns the cache off and
    /// checks every request from scratch. Remembering weakens no check: expiry is checked on
    /// every hit, and a changed key set sends every token through the full check again
    /// [default: 1024 JWTs; 10,000 introspected tokens].
    #[arg(long, env = "BILLING_TOKEN_CACHE_CAPACITY", value_name = "N")]
    pub token_cache_capacity: Option<usize>,
    /// Metrics and traces: `--metrics-addr`, `--otlp-endpoint`.
    #[command(flatten)]
    pub observe: crate::observe::ObserveArgs,
    /// Client id for the introspection endpoint.
    #[arg(long, env = "BILLING_CLIENT_ID", requires = "introspection_url")]
    pub client_id: Option<String>,
    /// Client secret for the introspection endpoint (prefer the environment variable).
    #[arg(
        long,
        env = "BILLING_CLIENT_SECRET",
        hide_env_values = true,
        requires = "client_id"
    )]
    pub client_secret: Option<String>,
    /// The key that seals the state of 2026-07-28 round trips (a refund's confirmation): at
    /// least 32 characters, e.g. from `openssl rand -base64 32`. Every replica needs the same
    /// key (prefer the environment variable) [default: a random key of this process, so that a
    /// confirmation is refused by another replica or after a restart].
    #[arg(long, env = "BILLING_REQUEST_STATE_KEY", hide_env_values = true)]
    pub request_state_key: Option<String>,
    /// A former `--request-state-key` still accepted during a rotation, for as long as a
    /// round trip may last (10 minutes); repeat it, or separate keys with spaces.
    #[arg(
        long = "previous-request-state-key",
        env = "BILLING_PREVIOUS_REQUEST_STATE_KEYS",
        hide_env_values = true,
        value_delimiter = ' ',
        requires = "request_state_key"
    )]
    pub previous_request_state_keys: Vec<String>,
    /// Proof of possession (RFC 9449): `off` takes bearer tokens only and refuses DPoP-bound
    /// ones; `accept` takes DPoP-bound tokens with a valid `DPoP` proof, and bearer tokens;
    /// `require` takes DPoP-bound tokens only, and refuses bearer tokens with the DPoP
    /// challenge. The dev issuer follows: it binds tokens to the key of a token request's
    /// proof unless `off`, and with `require` refuses token requests without one.
    #[arg(long, env = "BILLING_DPOP", value_enum, default_value_t = DpopMode::Accept)]
    pub dpop: DpopMode,
    /// The payments API `refund_invoice` records refunds at, e.g.
    /// `http://127.0.0.1:8001/payments` (a `billing payments` process) [default: the one
    /// served by this process at http://HOST:PORT/payments].
    #[arg(long, env = "BILLING_PAYMENTS_URL")]
    pub payments_url: Option<String>,
    /// The audience of payments tokens, which refunds get by token exchange [default: the
    /// payments URL].
    #[arg(long, env = "BILLING_PAYMENTS_AUDIENCE")]
    pub payments_audience: Option<String>,
    /// With `--issuer`: the client id this server exchanges its callers' tokens with, for
    /// payments tokens (RFC 8693). Without it, refunds fail. The dev issuer has its own client.
    #[arg(long, env = "BILLING_EXCHANGE_CLIENT_ID")]
    pub exchange_client_id: Option<String>,
    /// The exchange client's secret (prefer the environment variable).
    #[arg(
        long,
        env = "BILLING_EXCHANGE_CLIENT_SECRET",
        hide_env_values = true,
        requires = "exchange_client_id",
        conflicts_with = "exchange_client_key"
    )]
    pub exchange_client_secret: Option<String>,
    /// How the secret is sent to the token endpoint: `basic` (client_secret_basic) or `post`
    /// (client_secret_post).
    #[arg(long, env = "BILLING_EXCHANGE_CLIENT_AUTH", value_enum, default_value_t = SecretAuth::Basic)]
    pub exchange_client_auth: SecretAuth,
    /// A PEM private key file (PKCS#8) the exchange client signs `private_key_jwt` assertions
    /// with, instead of a secret.
    #[arg(
        long,
        env = "BILLING_EXCHANGE_CLIENT_KEY",
        requires = "exchange_client_id"
    )]
    pub exchange_client_key: Option<PathBuf>,
    /// The algorithm of `--exchange-client-key`: ES256, ES384, RS256, PS256, EdDSA, ...
    #[arg(
        long,
        env = "BILLING_EXCHANGE_KEY_ALG",
        default_value = "ES256",
        requires = "exchange_client_key"
    )]
    pub exchange_key_alg: String,
    /// The `kid` sent with `private_key_jwt` assertions, if the authorization server needs it.
    #[arg(
        long,
        env = "BILLING_EXCHANGE_KEY_ID",
        requires = "exchange_client_key"
    )]
    pub exchange_key_id: Option<String>,
    /// The token endpoint of token exchanges [default: the `token_endpoint` of the issuer's
    /// metadata, RFC 8414].
    #[arg(long, env = "BILLING_TOKEN_ENDPOINT", requires = "exchange_client_id")]
    pub token_endpoint: Option<String>,
    /// Connection-level limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `--exchange-client-auth`: how a client secret is sent to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretAuth {
    /// HTTP Basic authentication (`client_secret_basic`).
    Basic,
    /// In the form body (`client_secret_post`).
    Post,
}

/// `--dpop`: whether DPoP-bound tokens are accepted, and bearer tokens still are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DpopMode {
    /// Bearer tokens only; DPoP-bound tokens are refused.
    Off,
    /// DPoP-bound tokens with a valid proof, and bearer tokens.
    Accept,
    /// DPoP-bound tokens with a valid proof only; bearer tokens are refused.
    Require,
}

impl DpopMode {
    /// The policy of the server and of the dev issuer.
    pub fn policy(self) -> DpopPolicy {
        match self {
            DpopMode::Off => DpopPolicy::Off,
            DpopMode::Accept => DpopPolicy::Accept,
            DpopMode::Require => DpopPolicy::Require,
        }
    }

    /// The server's DPoP configuration: the policy, with the default algorithms, `iat`
    /// window and no nonces.
    pub fn config(self) -> Dpop {
        Dpop::new(self.policy())
    }

    /// What the mode means, for the start-up log and the banner.
    pub fn describe(self) -> &'static str {
        match self {
            DpopMode::Off => "bearer tokens only; DPoP-bound tokens are refused",
            DpopMode::Accept => "DPoP-bound tokens with a valid proof, and bearer tokens",
            DpopMode::Require => {
                "DPoP-bound tokens with a valid proof only; bearer tokens are refused"
            }
        }
    }
}

impl fmt::Display for DpopMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DpopMode::Off => "off",
            DpopMode::Accept => "accept",
            DpopMode::Require => "require",
        })
    }
}

impl fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so that a new option cannot be added without deciding how it shows.
        let ServeArgs {
            host,
            port,
            data,
            db,
            audit_log,
            auto_consent,
            dev_cors_origins,
            baseline_scopes,
            issuer,
            resource,
            jwks_url,
            scope_claim,
            tenant_claim,
            allow_untyped_tokens,
            introspection_url,
            redis_url,
            rate_limit,
            tool_rate_limits,
            token_cache_capacity,
            observe,
            client_id,
            client_secret,
            request_state_key,
            previous_request_state_keys,
            dpop,
            payments_url,
            payments_audience,
            exchange_client_id,
            exchange_client_secret,
            exchange_client_auth,
            exchange_client_key,
            exchange_key_alg,
            exchange_key_id,
            token_endpoint,
            limits,
        } = self;
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| Redacted);
        f.debug_struct("ServeArgs")
            .field("host", host)
            .field("port", port)
            .field("data", data)
            .field("db", db)
            .field("audit_log", audit_log)
            .field("auto_consent", auto_consent)
            .field("dev_cors_origins", dev_cors_origins)
            .field("baseline_scopes", baseline_scopes)
            .field("issuer", issuer)
            .field("resource", resource)
            .field("jwks_url", jwks_url)
            .field("scope_claim", scope_claim)
            .field("tenant_claim", tenant_claim)
            .field("allow_untyped_tokens", allow_untyped_tokens)
            .field("introspection_url", introspection_url)
            .field("redis_url", &redis_url.as_deref().map(without_password))
            .field("rate_limit", rate_limit)
            .field("tool_rate_limits", tool_rate_limits)
            .field("token_cache_capacity", token_cache_capacity)
            .field("observe", observe)
            .field("client_id", client_id)
            .field("client_secret", &redacted(client_secret))
            .field("request_state_key", &redacted(request_state_key))
            .field(
                "previous_request_state_keys",
                &vec![Redacted; previous_request_state_keys.len()],
            )
            .field("dpop", dpop)
            .field("payments_url", payments_url)
            .field("payments_audience", payments_audience)
            .field("exchange_client_id", exchange_client_id)
            .field("exchange_client_secret", &redacted(exchange_client_secret))
            .field("exchange_client_auth", exchange_client_auth)
            // A path, not the key.
            .field("exchange_client_key", exchange_client_key)
            .field("exchange_key_alg", exchange_key_alg)
            .field("exchange_key_id", exchange_key_id)
            .field("token_endpoint", token_endpoint)
            .field("limits", limits)
            .finish()
    }
}

/// Shown in place of a secret.
#[derive(Clone, Copy)]
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A URL with its userinfo (`user:password@`) redacted: `redis://[redacted]@host:6379/`.
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[redacted]".to_owned();
    };
    // The authority ends at the first `/`, `?` or `#`; its userinfo at its last `@`.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://[redacted]{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Connection-level limits of `billing serve` (see `ServeConfig` in mcp-auth-runtime).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// How long a client may take to send a request's headers, or keep a connection idle
    /// between requests, before the connection is closed: `10s`, `500ms`, `1m`.
    #[arg(
        long,
        env = "BILLING_HEADER_READ_TIMEOUT",
        default_value = "10s",
        value_parser = parse_timeout
    )]
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's whole body; `408` after it.
    #[arg(
        long,
        env = "BILLING_REQUEST_BODY_TIMEOUT",
        default_value = "30s",
        value_parser = parse_timeout
    )]
    pub request_body_timeout: Duration,
    /// How long an answer may wait for its client to read any of it before the connection is
    /// closed; a connection with nothing to send is not affected.
    #[arg(
        long,
        env = "BILLING_WRITE_TIMEOUT",
        default_value = "30s",
        value_parser = parse_timeout
    )]
    pub write_timeout: Duration,
    /// The most connections served at once; beyond it, new connections wait until one
    /// closes. Keep `ulimit -n` above it.
    #[arg(
        long,
        env = "BILLING_MAX_CONNECTIONS",
        default_value_t = mcp_auth_runtime::ServeConfig::DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_connections: usize,
    /// The most `subscriptions/listen` streams one caller (issuer, subject and client of its
    /// token) may hold open on this replica; `429` beyond it.
    #[arg(
        long,
        env = "BILLING_MAX_STREAMS_PER_PRINCIPAL",
        default_value_t = mcp_auth_runtime::McpServerBuilder::DEFAULT_MAX_STREAMS_PER_PRINCIPAL,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_streams_per_principal: usize,
}

impl LimitArgs {
    /// The limits of the serving loop.
    pub fn serve_config(&self) -> mcp_auth_runtime::ServeConfig {
        mcp_auth_runtime::ServeConfig::new()
            .header_read_timeout(self.header_read_timeout)
            .request_body_timeout(self.request_body_timeout)
            .write_timeout(self.write_timeout)
            .max_connections(self.max_connections)
    }
}

/// `500ms`, `10s`, `2m`, or plain seconds; between 1 ms and 1 hour.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(
        s,
        &[
            ("ms", |n| Some(Duration::from_millis(n))),
            ("s", |n| seconds(n, 1)),
            ("m", |n| seconds(n, 60)),
        ],
        Duration::from_secs(3600),
        "a timeout such as 500ms, 10s or 2m",
        "a timeout must be between 1ms and 1h",
    )
}

/// `n` units of `unit` seconds, unless that overflows.
fn seconds(n: u64, unit: u64) -> Option<Duration> {
    n.checked_mul(unit).map(Duration::from_secs)
}

/// A duration's unit: its suffix, and the duration of `n` of it (`None` when that overflows).
type Unit = (&'static str, fn(u64) -> Option<Duration>);

/// A whole number followed by the suffix of one of `units`, or a plain number of seconds;
/// refused as not `what` when it is none of these (or overflows), with `range` when it is
/// zero or longer than `max`.
fn parse_duration(
    s: &str,
    units: &[Unit],
    max: Duration,
    what: &str,
    range: &str,
) -> Result<Duration, String> {
    let s = s.trim();
    let invalid = || format!("`{s}` is not {what}");
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => s.split_at(at),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| invalid())?;
    let duration = units
        .iter()
        .find(|(suffix, _)| *suffix == unit)
        .and_then(|(_, of)| of(n))
        .ok_or_else(invalid)?;
    if duration.is_zero() || duration > max {
        return Err(format!("{range}, got `{s}`"));
    }
    Ok(duration)
}

impl ServeArgs {
    /// Whether the embedded development issuer runs: no other authorization was configured.
    pub fn dev_issuer(&self) -> bool {
        self.issuer.is_none() && self.introspection_url.is_none()
    }

    /// The database file, `:memory:` included.
    pub fn db_path(&self) -> String {
        self.db.clone().unwrap_or_else(|| {
            self.data
                .data_dir
                .join("billing.db")
                .to_string_lossy()
                .into_owned()
        })
    }

    pub(crate) fn scope_claim(&self) -> ScopeClaim {
        scope_claim(&self.scope_claim)
    }

    /// `builder` with `--token-cache-capacity`, if given.
    pub(crate) fn token_cache(&self, builder: JwtVerifierBuilder) -> JwtVerifierBuilder {
        match self.token_cache_capacity {
            Some(capacity) => builder.cache_capacity(capacity),
            None => builder,
        }
    }

    /// The file of API keys the server reads: `DATA_DIR/api-keys.json`.
    pub fn api_keys_path(&self) -> PathBuf {
        self.data.api_keys_path()
    }
}

impl DataArgs {
    /// The file of API keys: `DATA_DIR/api-keys.json`.
    pub fn api_keys_path(&self) -> PathBuf {
        self.data_dir.join(API_KEYS_FILE)
    }
}

/// The file of API keys in the data directory.
pub const API_KEYS_FILE: &str = "api-keys.json";

/// `--scope-claim`: `scope`, `scp` or another claim's name.
fn scope_claim(name: &str) -> ScopeClaim {
    match name {
        "scope" => ScopeClaim::Scope,
        "scp" => ScopeClaim::Scp,
        other => ScopeClaim::Custom(other.to_owned()),
    }
}

/// Options of `billing token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// A scope to grant; repeat it, or separate scopes with spaces.
    #[arg(long = "scope", default_value = "invoices:read")]
    pub scopes: Vec<String>,
    /// The `tenant` claim.
    #[arg(long, default_value = "acme", conflicts_with = "no_tenant")]
    pub tenant: String,
    /// Leave the `tenant` claim out (the server then refuses every tool call).
    #[arg(long)]
    pub no_tenant: bool,
    /// The `sub` claim.
    #[arg(long, default_value = "alice")]
    pub subject: String,
    /// The `client_id` claim [default: mcp-auth-dev-issuer].
    #[arg(long)]
    pub client_id: Option<String>,
    /// How long the token is valid: `90s`, `15m`, `1h`, `8h`, at most `24h`.
    #[arg(long, default_value = "1h", value_parser = parse_lifetime)]
    pub lifetime: Duration,
    /// Bind the token to the DPoP key with this RFC 7638 SHA-256 thumbprint (`cnf.jkt`): the
    /// server then takes it only with a proof signed by that key. Default: a bearer token.
    // A thumbprint is base64url and starts with `-` one time in 64: without
    // `allow_hyphen_values` clap would read such a value as an unknown flag.
    #[arg(long, value_parser = parse_thumbprint, allow_hyphen_values = true)]
    pub dpop_jkt: Option<String>,
    /// The host the server listens on; tokens name `http://HOST:PORT/mcp` as audience.
    #[arg(long, env = "BILLING_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// The port the server listens on.
    #[arg(long, env = "BILLING_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Where the signing key lives.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Options of `billing payments`: the payments API alone, verifying the tokens of `--issuer`.
#[derive(Debug, Clone, Args)]
pub struct PaymentsArgs {
    /// Address to listen on.
    #[arg(long, env = "BILLING_PAYMENTS_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (the bound address is printed).
    #[arg(long, env = "BILLING_PAYMENTS_PORT", default_value_t = 8001)]
    pub port: u16,
    /// The authorization server whose tokens are accepted: the billing server's own URL
    /// (`http://127.0.0.1:8000`) for its dev issuer, or a real issuer.
    #[arg(long, env = "BILLING_ISSUER_URL")]
    pub issuer: String,
    /// The audience payments tokens must name [default: http://HOST:PORT/payments].
    #[arg(long, env = "BILLING_PAYMENTS_AUDIENCE")]
    pub audience: Option<String>,
    /// Fetch the issuer's keys from this URL instead of discovering it.
    #[arg(long, env = "BILLING_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// The claim holding the scopes: `scope`, `scp`, or any other claim name.
    #[arg(long, env = "BILLING_SCOPE_CLAIM", default_value = "scope")]
    pub scope_claim: String,
    /// The claim naming the caller's tenant.
    #[arg(long, env = "BILLING_TENANT_CLAIM", default_value = "tenant")]
    pub tenant_claim: String,
    /// Also accept JWT access tokens typed `JWT` or not typed at all. Off: only `at+jwt`.
    #[arg(long, env = "BILLING_ALLOW_UNTYPED_TOKENS")]
    pub allow_untyped_tokens: bool,
    /// Where the payments database lives.
    #[command(flatten)]
    pub data: DataArgs,
    /// The payments database file, or `:memory:` [default: DATA_DIR/payments.db].
    #[arg(long, env = "BILLING_PAYMENTS_DB")]
    pub db: Option<String>,
}

impl PaymentsArgs {
    /// The database file, `:memory:` included.
    pub fn db_path(&self) -> String {
        self.db.clone().unwrap_or_else(|| {
            self.data
                .data_dir
                .join(crate::payments::DB_FILE)
                .to_string_lossy()
                .into_owned()
        })
    }

    pub(crate) fn scope_claim(&self) -> ScopeClaim {
        scope_claim(&self.scope_claim)
    }
}

/// `billing apikey`.
#[derive(Debug, Clone, Args)]
pub struct ApiKeyArgs {
    /// What to do with keys.
    #[command(subcommand)]
    pub command: ApiKeyCommand,
}

/// A subcommand of `billing apikey`.
#[derive(Debug, Clone, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key: prints its details, then the key itself, once, alone on the last line.
    Create(ApiKeyCreateArgs),
    /// List the keys (never a key or its hash).
    List(DataArgs),
    /// Revoke a key by its id; the server refuses it from its next reload (within seconds).
    Revoke {
        /// The key's id, as `create` and `list` print it.
        id: String,
        /// Where the keys live.
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Options of `billing apikey create`.
#[derive(Debug, Clone, Args)]
pub struct ApiKeyCreateArgs {
    /// A scope the key grants; repeat it, or separate scopes with spaces.
    #[arg(long = "scope", required = true, value_delimiter = ' ')]
    pub scopes: Vec<String>,
    /// The tenant whose invoices the key reaches.
    #[arg(long)]
    pub tenant: String,
    /// The subject calls with the key are made as [default: `api-key:ID`].
    #[arg(long)]
    pub subject: Option<String>,
    /// The client id calls with the key are audited with.
    #[arg(long)]
    pub client_id: Option<String>,
    /// How long the key works: `90m`, `12h`, `30d`, at most `3650d` [default: until revoked].
    #[arg(long, value_parser = parse_key_lifetime)]
    pub expires_in: Option<Duration>,
    /// Where the keys live: `DATA_DIR/api-keys.json`, read by `billing serve` on the same
    /// directory.
    #[command(flatten)]
    pub data: DataArgs,
}

/// Longest lifetime of an API key: ten years.
const MAX_KEY_LIFETIME: Duration = Duration::from_secs(3650 * 86_400);

/// `90m`, `12h`, `30d`, or plain seconds.
fn parse_key_lifetime(s: &str) -> Result<Duration, String> {
    parse_duration(
        s,
        &[
            ("s", |n| seconds(n, 1)),
            ("m", |n| seconds(n, 60)),
            ("h", |n| seconds(n, 3600)),
            ("d", |n| seconds(n, 86_400)),
        ],
        MAX_KEY_LIFETIME,
        "a lifetime such as 90m, 12h or 30d",
        "a key's lifetime must be between 1s and 3650d",
    )
}

/// An RFC 7638 SHA-256 thumbprint: 32 bytes, base64url without padding (43 characters).
fn parse_thumbprint(s: &str) -> Result<String, String> {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if s.len() == 43 && s.bytes().all(base64url) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "`{s}` is not a JWK SHA-256 thumbprint (43 base64url characters)"
        ))
    }
}

/// `void_invoice=10`.
fn parse_tool_limit(s: &str) -> Result<(String, u32), String> {
    let (tool, per_minute) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not TOOL=N, e.g. void_invoice=10"))?;
    let per_minute = per_minute
        .trim()
        .parse()
        .map_err(|_| format!("`{per_minute}` in `{s}` is not a number of calls per minute"))?;
    Ok((tool.trim().to_owned(), per_minute))
}

/// Longest lifetime `billing token` mints: development tokens stay short-lived.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// `90s`, `15m`, `8h`, `1d`, or plain seconds.
fn parse_lifetime(s: &str) -> Result<Duration, String> {
    parse_duration(
        s,
        &[
            ("s", |n| seconds(n, 1)),
            ("m", |n| seconds(n, 60)),
            ("h", |n| seconds(n, 3600)),
            ("d", |n| seconds(n, 86_400)),
        ],
        MAX_LIFETIME,
        "a lifetime such as 90s, 15m or 8h",
        "the lifetime must be between 1s and 24h",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--lifetime` and the `--*-timeout` options: what each accepts, what it refuses, and
    /// its messages (not a duration, an overflow included; out of range).
    #[test]
    fn durations_parse() {
        type Parse = fn(&str) -> Result<Duration, String>;
        let secs = Duration::from_secs;
        let cases = [
            (
                parse_lifetime as Parse,
                vec![
                    ("90s", secs(90)),
                    ("15m", secs(900)),
                    ("8h", secs(28_800)),
                    ("1d", secs(86_400)),
                    ("60", secs(60)),
                ],
                ["", "h", "0s", "25h", "2d", "1w", "-1h", "1.5h"],
                [
                    (
                        "99999999999999999999d",
                        "`99999999999999999999d` is not a lifetime such as 90s, 15m or 8h",
                    ),
                    (" 1w ", "`1w` is not a lifetime such as 90s, 15m or 8h"),
                    ("25h", "the lifetime must be between 1s and 24h, got `25h`"),
                ],
            ),
            (
                parse_timeout,
                vec![
                    ("500ms", Duration::from_millis(500)),
                    ("10s", secs(10)),
                    ("2m", secs(120)),
                    ("30", secs(30)),
                ],
                ["", "s", "0s", "0ms", "61m", "1h", "-1s", "1.5s"],
                [
                    ("0ms", "a timeout must be between 1ms and 1h, got `0ms`"),
                    (" 1h ", "`1h` is not a timeout such as 500ms, 10s or 2m"),
                    (
                        "99999999999999999999m",
                        "`99999999999999999999m` is not a timeout such as 500ms, 10s or 2m",
                    ),
                ],
            ),
        ];
        for (parse, good, bad, messages) in cases {
            for (input, want) in good {
                assert_eq!(parse(input), Ok(want), "{input}");
            }
            for input in bad {
                assert!(parse(input).is_err(), "{input}");
            }
            for (input, message) in messages {
                assert_eq!(parse(input), Err(message.to_owned()), "{input}");
            }
        }
    }

    #[test]
    fn connection_limits_default_to_the_runtime_defaults() {
        let cli = Cli::try_parse_from(["billing"]).unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve is the default command")
        };
        let limits = args.limits;
        assert_eq!(
            limits.header_read_timeout,
            mcp_auth_runtime::ServeConfig::DEFAULT_HEADER_READ_TIMEOUT
        );
        assert_eq!(
            limits.request_body_timeout,
            mcp_auth_runtime::ServeConfig::DEFAULT_REQUEST_BODY_TIMEOUT
        );
        assert_eq!(
            limits.write_timeout,
            mcp_auth_runtime::ServeConfig::DEFAULT_WRITE_TIMEOUT
        );
        assert_eq!(
            limits.max_connections,
            mcp_auth_runtime::ServeConfig::DEFAULT_MAX_CONNECTIONS
        );
        assert_eq!(
            limits.max_streams_per_principal,
            mcp_auth_runtime::McpServerBuilder::DEFAULT_MAX_STREAMS_PER_PRINCIPAL
        );
        for bad in [
            ["--max-connections", "0"],
            ["--max-streams-per-principal", "0"],
            ["--header-read-timeout", "0s"],
            ["--request-body-timeout", "forever"],
            ["--write-timeout", "0ms"],
        ] {
            assert!(
                Cli::try_parse_from(["billing", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_write_timeout_reaches_the_serving_loop() {
        let cli = Cli::try_parse_from(["billing", "--write-timeout", "2s"]).unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve is the default command")
        };
        assert_eq!(args.limits.write_timeout, Duration::from_secs(2));
        let config = format!("{:?}", args.limits.serve_config());
        assert!(config.contains("write_timeout: 2s"), "{config}");
    }

    #[test]
    fn serve_is_the_default_command() {
        let cli = Cli::try_parse_from(["billing", "--port", "0"]).unwrap();
        assert!(matches!(cli.into_command(), Command::Serve(args) if args.port == 0));
        let cli = Cli::try_parse_from(["billing", "serve", "--port", "0"]).unwrap();
        assert!(matches!(cli.into_command(), Command::Serve(args) if args.port == 0));
        let cli = Cli::try_parse_from(["billing", "token", "--scope", "invoices:write"]).unwrap();
        assert!(
            matches!(cli.into_command(), Command::Token(args) if args.scopes == ["invoices:write"])
        );
    }

    #[test]
    fn baseline_scopes_repeat_or_split_on_spaces() {
        let cli = Cli::try_parse_from([
            "billing",
            "--baseline-scope",
            "invoices:read",
            "--baseline-scope",
            "invoices:write payments:write",
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve is the default command")
        };
        assert_eq!(
            args.baseline_scopes,
            ["invoices:read", "invoices:write", "payments:write"]
        );
        let cli = Cli::try_parse_from(["billing"]).unwrap();
        assert!(
            matches!(cli.into_command(), Command::Serve(args) if args.baseline_scopes.is_empty())
        );
    }

    #[test]
    fn tool_rate_limits_parse() {
        let cli = Cli::try_parse_from([
            "billing",
            "--tool-rate-limit",
            "void_invoice=10",
            "--tool-rate-limit",
            "refund_invoice=2 create_invoice=30",
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve is the default command")
        };
        assert_eq!(
            args.tool_rate_limits,
            [
                ("void_invoice".to_owned(), 10),
                ("refund_invoice".to_owned(), 2),
                ("create_invoice".to_owned(), 30)
            ]
        );
        for bad in ["void_invoice", "void_invoice=", "void_invoice=ten", "=3x"] {
            assert!(
                Cli::try_parse_from(["billing", "--tool-rate-limit", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn secret_variables_are_not_shown_by_help() {
        use clap::CommandFactory;
        let command = Cli::command();
        for id in [
            "client_secret",
            "exchange_client_secret",
            "redis_url",
            "request_state_key",
            "previous_request_state_keys",
        ] {
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .unwrap_or_else(|| panic!("no option {id}"));
            assert!(
                arg.is_hide_env_values_set(),
                "{id}: `--help` shows its value"
            );
        }
    }

    #[test]
    fn serve_args_show_no_secret_in_debug() {
        let secrets = [
            "client-secret-value",
            "redis-password",
            "current-state-key-0123456789abcdef",
            "previous-state-key-0123456789abcdef",
            "exchange-secret-value",
        ];
        let cli = Cli::try_parse_from([
            "billing",
            "--issuer",
            "https://auth.example.com",
            "--exchange-client-id",
            "billing",
            "--exchange-client-secret",
            secrets[4],
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve is the default command")
        };
        let debug = format!("{args:?}");
        assert!(!debug.contains(secrets[4]), "{debug}");
        let cli = Cli::try_parse_from([
            "billing",
            "--introspection-url",
            "https://auth.example.com/introspect",
            "--client-id",
            "billing",
            "--client-secret",
            secrets[0],
            "--redis-url",
            "redis://default:redis-password@redis.internal:6379/0",
            "--request-state-key",
            secrets[2],
            "--previous-request-state-key",
            secrets[3],
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve is the default command")
        };
        let debug = format!("{args:?} {args:#?}");
        for secret in secrets {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        // What is not secret still shows.
        assert!(
            debug.contains("redis://[redacted]@redis.internal:6379/0"),
            "{debug}"
        );
        assert!(
            debug.contains("https://auth.example.com/introspect"),
            "{debug}"
        );
        assert_eq!(
            without_password("redis://:pw@host/?a=b@c"),
            "redis://[redacted]@host/?a=b@c"
        );
        assert_eq!(without_password("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn dpop_defaults_to_accept_and_names_three_modes() {
        let mode = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["billing"], args].concat())?;
            let Command::Serve(args) = cli.into_command() else {
                panic!("serve is the default command")
            };
            Ok::<_, clap::Error>(args.dpop)
        };
        assert_eq!(mode(&[]).unwrap(), DpopMode::Accept);
        for (given, want, policy) in [
            ("off", DpopMode::Off, DpopPolicy::Off),
            ("accept", DpopMode::Accept, DpopPolicy::Accept),
            ("require", DpopMode::Require, DpopPolicy::Require),
        ] {
            let got = mode(&["--dpop", given]).unwrap();
            assert_eq!(got, want);
            assert_eq!(got.to_string(), given);
            assert_eq!(got.config().policy(), policy);
        }
        let err = mode(&["--dpop", "bearer"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn token_dpop_jkt_is_a_thumbprint() {
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        // One thumbprint in 64 starts with `-`; it is a value, not a flag.
        let dashed = "-YcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        for jkt in [jkt, dashed] {
            let cli = Cli::try_parse_from(["billing", "token", "--dpop-jkt", jkt]).unwrap();
            assert!(
                matches!(cli.into_command(), Command::Token(args) if args.dpop_jkt.as_deref() == Some(jkt))
            );
        }
        for bad in ["", "abc", &format!("{jkt}="), &jkt.replace('-', "+")] {
            assert!(
                Cli::try_parse_from(["billing", "token", "--dpop-jkt", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn help_names_the_dpop_modes() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for text in [
            "--dpop <DPOP>",
            "[env: BILLING_DPOP=]",
            "[default: accept]",
            "off",
            "accept",
            "require",
            "bearer tokens are refused",
        ] {
            assert!(help.contains(text), "`{text}` not in\n{help}");
        }
    }

    #[test]
    fn exchange_options_need_a_client_and_one_credential() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["billing"], args].concat());
        // The key algorithm's default asks for nothing.
        assert!(parse(&["--issuer", "https://auth.example.com"]).is_ok());
        for bad in [
            &["--exchange-client-secret", "s"][..],
            &["--exchange-client-key", "key.pem"][..],
            &["--exchange-key-alg", "ES384"][..],
            &[
                "--exchange-client-id",
                "c",
                "--exchange-client-secret",
                "s",
                "--exchange-client-key",
                "k.pem",
            ][..],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let cli = parse(&[
            "--issuer",
            "https://auth.example.com",
            "--exchange-client-id",
            "billing",
            "--exchange-client-key",
            "billing.pem",
            "--exchange-key-alg",
            "PS256",
        ])
        .unwrap();
        let Command::Serve(args) = cli.into_command() else {
            panic!("serve is the default command")
        };
        assert_eq!(args.exchange_key_alg, "PS256");
        assert_eq!(args.exchange_client_auth, SecretAuth::Basic);
    }

    #[test]
    fn apikey_and_payments_commands_parse() {
        let cli = Cli::try_parse_from([
            "billing",
            "apikey",
            "create",
            "--scope",
            "invoices:read invoices:write",
            "--scope",
            "payments:write",
            "--tenant",
            "acme",
            "--expires-in",
            "30d",
        ])
        .unwrap();
        let Command::Apikey(ApiKeyArgs {
            command: ApiKeyCommand::Create(create),
        }) = cli.into_command()
        else {
            panic!("apikey create")
        };
        assert_eq!(
            create.scopes,
            ["invoices:read", "invoices:write", "payments:write"]
        );
        assert_eq!(create.expires_in, Some(Duration::from_secs(30 * 86_400)));
        for bad in [
            &["apikey", "create", "--tenant", "acme"][..],
            &["apikey", "create", "--scope", "invoices:read"][..],
            &[
                "apikey",
                "create",
                "--scope",
                "a",
                "--tenant",
                "t",
                "--expires-in",
                "3651d",
            ][..],
            &["payments", "--port", "0"][..],
        ] {
            assert!(
                Cli::try_parse_from([&["billing"], bad].concat()).is_err(),
                "{bad:?}"
            );
        }
        let cli = Cli::try_parse_from([
            "billing",
            "payments",
            "--port",
            "0",
            "--issuer",
            "http://127.0.0.1:8000",
        ])
        .unwrap();
        let Command::Payments(args) = cli.into_command() else {
            panic!("payments")
        };
        assert_eq!(args.audience, None);
        assert!(args.db_path().ends_with("payments.db"));
    }

    #[test]
    fn auto_consent_is_for_the_dev_issuer_only() {
        let err = Cli::try_parse_from([
            "billing",
            "--auto-consent",
            "--issuer",
            "https://auth.example.com",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
