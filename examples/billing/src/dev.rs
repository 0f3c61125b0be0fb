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
use mcp_auth_runtime::dev_issuer::{DevIssuer, DevIssuerBuilder, MintRequest};

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auto_consent: false,
            cors_origins: Vec::new(),
            dpop: DpopMode::Accept,
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
            match write_key(data_dir, &path, issuer.key_pkcs8()) {
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

/// Writes a new key file, owner-only, failing if one exists.
fn write_key(dir: &Path, path: &Path, der: &[u8]) -> std::io::Result<()> {
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
                "the dev issuer's signing key is readable by other users: `chmod 600` it"
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
