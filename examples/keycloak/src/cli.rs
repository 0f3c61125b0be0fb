//! The command line. Every option has an environment variable, and the defaults are the
//! addresses of `realm-export.json` and of the README's `docker run`.

use std::net::IpAddr;

use clap::Parser;

/// An MCP server of notes whose tools are protected by the scopes of the Keycloak realm in
/// `realm-export.json`.
#[derive(Debug, Clone, Parser)]
#[command(name = "keycloak-notes", version, about)]
pub struct Cli {
    /// Address to listen on.
    #[arg(long, env = "NOTES_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (the bound address is logged).
    #[arg(long, env = "NOTES_PORT", default_value_t = 8000)]
    pub port: u16,
    /// The realm's issuer URL, exactly as in the `iss` of its tokens; the signing keys are
    /// discovered from its `.well-known/openid-configuration`.
    #[arg(
        long,
        env = "NOTES_ISSUER_URL",
        default_value = "http://localhost:8080/realms/mcp"
    )]
    pub issuer: String,
    /// This server's canonical URI: the audience that the realm's audience mapper puts in
    /// every token (`included.custom.audience` in `realm-export.json`).
    #[arg(
        long,
        env = "NOTES_RESOURCE_URL",
        default_value = "http://localhost:8000/mcp"
    )]
    pub resource: String,
    /// The claim naming the caller's tenant: the realm's `tenant` client scope maps the user
    /// attribute of that name to it.
    #[arg(long, env = "NOTES_TENANT_CLAIM", default_value = "tenant")]
    pub tenant_claim: String,
    /// Also accept access tokens typed `JWT`, as Keycloak issues them to a client without
    /// its `at+jwt` switch (`access.token.header.type.rfc9068`, Keycloak 26.2 and later):
    /// older releases, and clients registered dynamically. Off: only `typ: at+jwt`. ID
    /// tokens stay refused either way.
    #[arg(long, env = "NOTES_ALLOW_UNTYPED_TOKENS")]
    pub allow_untyped_tokens: bool,
}
