//! The embedded development issuer: its configuration, its persisted key, and the tokens and
//! `curl` command printed at start.
//!
//! **Development only.** It has no passwords and signs whatever its consent page is told;
//! the server refuses to run it on anything but loopback, and production deployments point
//! `--issuer` at a real authorization server instead.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use mcp_auth_runtime::dev_issuer::{DevClient, DevIssuer, DevIssuerBuilder, MintRequest};

use crate::cli::DpopMode;

/// The scopes the dev issuer grants: every scope a billing tool, resource or prompt requires,
/// or may require.
pub(crate) const SCOPES: [(&str, &str); 4] = [
    ("invoices:read", "read your invoices"),
    ("invoices:write", "create and void invoices"),
    ("payments:write", "refund payments"),
    ("payments:approve", "approve refunds above $1,000"),
];

/// Users offered on the consent page, with their home tenants.
pub(crate) const USERS: [(&str, &str); 2] = [("alice", "acme"), ("bob", "globex")];

/// The file in the data directory holding the signing key, PKCS#8 DER.
pub(crate) const KEY_FILE: &str = "dev-issuer-key.der";

/// The file in the data directory holding the secret of [`EXCHANGE_CLIENT_ID`].
pub(crate) const EXCHANGE_SECRET_FILE: &str = "exchange-client-secret";

/// The dev issuer's confidential client that billing exchanges its callers' tokens with, for
/// payments tokens.
pub(crate) const EXCHANGE_CLIENT_ID: &str = "billing-mcp";

/// How long the tokens printed at start are valid.
const BANNER_TOKEN_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The protocol version of the printed `curl` command: one request, no session.
const PROTOCOL_VERSION: &str = "2026-07-28";

/// How the dev issuer deals with people, browsers and DPoP proofs.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Approve at once, as alice of acme, instead of showing the consent page.
    pub(crate) auto_consent: bool,
    /// Web origins whose pages may use `/register` and `/token` from the browser.
    pub(crate) cors_origins: Vec<String>,
    /// The server's `--dpop`, which the token endpoint follows.
    pub(crate) dpop: DpopMode,
    /// The payments audience, and the secret of [`EXCHANGE_CLIENT_ID`], which may exchange
    /// tokens for it.
    pub(crate) payments: Option<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auto_consent: false,
            cors_origins: Vec::new(),
            dpop: DpopMode::Accept,
            payments: None,
        }
    }
}

/// A dev issuer at `origin` for `resource`, signing with the key kept in `data_dir` (created
/// on first use, readable by its owner only), so that its tokens survive a restart.
pub(crate) fn issuer(
    origin: &str,
    resource: &str,
    data_dir: &Path,
    options: &Options,
) -> anyhow::Result<DevIssuer> {
    let builder = || {
        let mut builder: DevIssuerBuilder = DevIssuer::builder(origin)
            .resource(resource)
            .users(USERS)
            .auto_consent(options.auto_consent)
            .dpop(options.dpop.policy());
        for cors_origin in &options.cors_origins {
            builder = builder.cors_origin(cors_origin);
        }
        for (scope, description) in SCOPES {
            builder = builder
                .scopes([scope])
                .scope_description(scope, description);
        }
        if let Some((audience, secret)) = &options.payments {
            builder = builder
                .resource(audience)
                .client(DevClient::secret(EXCHANGE_CLIENT_ID, secret).may_exchange_for(audience));
        }
        builder
    };
    let path = data_dir.join(KEY_FILE);
    match read_key(&path)? {
        Some(der) => builder().signing_key_pkcs8(der).build().with_context(|| {
            format!(
                "{} is not a usable signing key: delete it to get a new one",
                path.display()
            )
        }),
        None => {
            let issuer = builder().build()?;
            match write_private(data_dir, &path, issuer.key_pkcs8()) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "created the dev issuer's signing key");
                    Ok(issuer)
                }
                // Another process created it first: use theirs, so both accept the same tokens.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    let der = read_key(&path)?.context("the signing key vanished")?;
                    Ok(builder().signing_key_pkcs8(der).build()?)
                }
                Err(err) => Err(err)
                    .with_context(|| format!("cannot write the signing key {}", path.display())),
            }
        }
    }
}

/// The key at `path`, or `None` if there is none yet.
fn read_key(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(der) => {
            warn_if_shared(path);
            Ok(Some(der))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The secret of [`EXCHANGE_CLIENT_ID`], kept in `data_dir` (created on first use, readable
/// by its owner only): 32 random bytes, hex.
pub(crate) fn exchange_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(EXCHANGE_SECRET_FILE);
    let read = |path: &Path| -> anyhow::Result<Option<String>> {
        Ok(read_key(path)?
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
            .filter(|secret| secret.len() >= 32))
    };
    if let Some(secret) = read(&path)? {
        return Ok(secret);
    }
    let secret = crate::random_hex(32)?;
    match write_private(data_dir, &path, secret.as_bytes()) {
        Ok(()) => Ok(secret),
        // Another process wrote it first, or a short one is there: use what the file holds.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            read(&path)?.with_context(|| {
                format!(
                    "{} holds no usable secret: delete it to get a new one",
                    path.display()
                )
            })
        }
        Err(err) => Err(err).with_context(|| format!("cannot write the secret {}", path.display())),
    }
}

/// Writes a new file, owner-only, failing if one exists.
fn write_private(dir: &Path, path: &Path, der: &[u8]) -> std::io::Result<()> {
    crate::create_private_dir(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(der)?;
    file.sync_all()
}

fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "a secret of the dev issuer is readable by other users: `chmod 600` it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// A token for `subject` of `tenant` with `scopes`, bound to the DPoP key with thumbprint
/// `dpop_jkt` if given.
pub(crate) fn mint(
    issuer: &DevIssuer,
    subject: &str,
    tenant: Option<&str>,
    scopes: &[&str],
    client_id: Option<&str>,
    lifetime: Duration,
    dpop_jkt: Option<&str>,
) -> anyhow::Result<String> {
    Ok(issuer.mint(MintRequest {
        subject: subject.to_owned(),
        tenant: tenant.map(str::to_owned),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        client_id: client_id.map(str::to_owned),
        lifetime: Some(lifetime),
        dpop_jkt: dpop_jkt.map(str::to_owned),
        ..MintRequest::default()
    })?)
}

/// What the server prints at start in development mode: where it is, its DPoP mode, two
/// tokens of alice in tenant acme, and a `curl` that lists the tools with the read-only one.
pub(crate) fn banner(
    issuer: &DevIssuer,
    resource: &str,
    tools: &str,
    dpop: DpopMode,
    payments: &str,
) -> anyhow::Result<String> {
    let read = ["invoices:read"];
    let write = ["invoices:read", "invoices:write", "payments:write"];
    let alice = |scopes: &[&str]| {
        mint(
            issuer,
            "alice",
            Some("acme"),
            scopes,
            None,
            BANNER_TOKEN_LIFETIME,
            None,
        )
    };
    let read_token = alice(&read)?;
    let write_token = alice(&write)?;
    let mut out = String::new();
    let _ = writeln!(out, "billing MCP server listening on {resource}");
    let _ = writeln!(out);
    let _ = write!(out, "{tools}");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Development issuer: {} (DEVELOPMENT ONLY: never use it or its tokens in production)",
        issuer.issuer()
    );
    let _ = writeln!(
        out,
        "  users alice (tenant acme) and bob (tenant globex); scopes {}",
        SCOPES.map(|(s, _)| s).join(" ")
    );
    let _ = writeln!(out, "DPoP {dpop}: {}", dpop.describe());
    let _ = writeln!(out, "{payments}");
    if dpop == DpopMode::Require {
        let _ = writeln!(
            out,
            "  the bearer tokens below are refused: clients get DPoP-bound tokens from the issuer with a proof"
        );
    }
    let _ = writeln!(out);
    for (what, scopes, token) in [
        ("Read-only", &read[..], &read_token),
        ("Read-write", &write[..], &write_token),
    ] {
        let _ = writeln!(
            out,
            "{what} token (alice, tenant acme, {}, valid 8 h):",
            scopes.join(" ")
        );
        let _ = writeln!(out, "  {token}");
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "List the tools with the read-only token (MCP {PROTOCOL_VERSION}: one request, no session):"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", curl(resource, &read_token));
    Ok(out)
}

/// A `curl` command listing the tools, in the 2026-07-28 era: the request carries its
/// protocol version and the client's capabilities itself, mirrored in headers.
pub(crate) fn curl(resource: &str, token: &str) -> String {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"{PROTOCOL_VERSION}","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    // Tokens are base64url and dots, the URL is ours, and the JSON has no single quote: all
    // safe inside single quotes.
    [
        format!("curl -sS {resource}"),
        format!("  -H 'Authorization: Bearer {token}'"),
        "  -H 'Content-Type: application/json'".to_owned(),
        "  -H 'Accept: application/json, text/event-stream'".to_owned(),
        format!("  -H 'MCP-Protocol-Version: {PROTOCOL_VERSION}'"),
        "  -H 'Mcp-Method: tools/list'".to_owned(),
        format!("  -d '{body}'"),
    ]
    .join(" \\\n")
}
