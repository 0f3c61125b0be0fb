#!/usr/bin/env python3
"""Writes two crates with the same 50 tools: `gen-ours` (mcp-auth's `#[tool]`) and `gen-rmcp`
(rmcp's `#[tool_router]`/`#[tool]`), for the compile-time benchmark (see `run.sh` and the
"Compile time" section of BENCHMARKS.md).

    gen.py OUT_DIR RUNTIME_PATH [--body N] [--sig N]

`--body N` puts the revision `N` in the body of tool `t25`; `--sig N` adds a parameter to tool
`t22` when `N` is odd. Each is one edit a user makes, so a build after changing one of them is
an incremental build after editing one tool's body, or one tool's signature. Files whose text
does not change are not rewritten, so that their modification times stay.
"""

import argparse
import os

TOOLS = 50
BODY_TOOL = 25  # kind 5: a context, a string, a structured result
SIG_TOOL = 22  # kind 2: several scalars

# Scope lists cycle through these, so that the tools do not all share one.
SCOPES = ["items:read", "items:write", "reports:read", "admin"]


def scope(i):
    return SCOPES[i % len(SCOPES)]


def out_type(i):
    """Output structs are shared by several tools, as in an application."""
    return f"Out{i // 10 % 5}"


# Each kind's parameters as a user documents them, `(doc, name, type)`: mcp-auth takes them as
# the tool function's parameters, rmcp as the fields of the tool's `Parameters<T>` struct, and
# both write them alike.
PARAMS = {
    1: [('The name to greet, e.g. "Ada"', "name", "String")],
    2: [
        ("A signed count.", "a", "i64"),
        ("A page size.", "b", "u32"),
        ("Whether to include archived items.", "c", "bool"),
        ("A ratio between 0 and 1.", "d", "f64"),
    ],
    3: [
        ("An optional filter.", "filter", "Option<String>"),
        ("How many to return.", "limit", "u32"),
    ],
    5: [("The item id, e.g. ITEM-2041", "id", "String")],
    7: [
        ("The ids to look up.", "ids", "Vec<String>"),
        ("At most this many.", "limit", "Option<u32>"),
    ],
    8: [("An optional offset.", "offset", "Option<i64>")],
}

# The parameter the signature edit adds to tool `SIG_TOOL`.
EXTRA = ("Added by the signature edit.", "extra", "Option<bool>")

# The kinds whose arguments are one input struct, `T{i}Input`, the same in both idioms: whether
# it refuses unknown fields, and its fields.
INPUTS = {
    4: (True, [
        ('The customer, e.g. "Wayne Enterprises".', "customer", "String"),
        ("The amount, in cents.", "amount_cents", "i64"),
        ("Free-form tags.", "tags", "Vec<String>"),
    ]),
    9: (False, [
        ("What to search for.", "query", "String"),
        ("The page, from 1.", "page", "Option<u32>"),
    ]),
}


def params(i, sig):
    """Tool `i`'s parameters, with the signature edit's when `sig` is odd."""
    extra = [EXTRA] if i == SIG_TOOL and sig % 2 == 1 else []
    return PARAMS[i % 10] + extra


def fields(params, vis=""):
    """Documented parameters or struct fields, one a line, indented as rustfmt does."""
    return "".join(f"    /// {doc}\n    {vis}{name}: {ty},\n" for doc, name, ty in params)


def struct(name, params, deny_unknown, doc="", derive="Deserialize, JsonSchema", vis=""):
    """A deserializable struct of `params`."""
    deny = "#[serde(deny_unknown_fields)]\n" if deny_unknown else ""
    return f"{doc}#[derive({derive})]\n{deny}pub struct {name} {{\n{fields(params, vis)}}}\n"


def input_struct(i):
    """The input struct of tool `i` (kinds 4 and 9), with public fields."""
    deny_unknown, params = INPUTS[i % 10]
    return struct(f"T{i:02}Input", params, deny_unknown, doc=f"/// The input of tool {i}.\n",
                  derive="Debug, Deserialize, JsonSchema", vis="pub ")


def tool_doc(i, indent=""):
    """Tool `i`'s doc comment: a description, then a paragraph that is not part of it."""
    lines = [
        f"/// Tool {i}: kind {i % 10}.",
        "///",
        "/// Only the first paragraph is the description.",
    ]
    return "".join(f"{indent}{line}\n" for line in lines)


def ours_tool(i, body, sig):
    """One tool in mcp-auth's idiom; the kinds cycle through ten signatures."""
    n = f"t{i:02}"
    k = i % 10
    out = out_type(i)
    s = scope(i)
    doc = tool_doc(i)
    if k == 0:
        return f"""{doc}#[tool(unscoped, read_only)]
pub async fn {n}() -> String {{
    "pong {i}".to_owned()
}}
"""
    if k == 1:
        return f"""{doc}#[tool(scope = "{s}", read_only, idempotent)]
pub async fn {n}(
{fields(params(i, sig))}) -> Result<String, ToolError> {{
    Ok(format!("hello {{name}} from {i}"))
}}
"""
    if k == 2:
        ps = params(i, sig)
        use_extra = "let _ = extra;\n    " if EXTRA in ps else ""
        return f"""{doc}#[tool(scope = "{s}", idempotent)]
pub async fn {n}(
{fields(ps)}) -> Result<{out}, ToolError> {{
    {use_extra}Ok({out}::new({i}, format!("{{a}} {{b}} {{c}} {{d}}")))
}}
"""
    if k == 3:
        return f"""{doc}#[tool(unscoped)]
pub async fn {n}(
{fields(params(i, sig))}) -> String {{
    format!("{{filter:?}} {{limit}} {i}")
}}
"""
    if k == 4:
        return f"""{input_struct(i)}
{doc}#[tool(scope = "{s}", destructive)]
pub async fn {n}(Args(input): Args<T{i:02}Input>) -> Result<{out}, ToolError> {{
    Ok({out}::new(input.amount_cents, format!("{{}} {{:?}}", input.customer, input.tags)))
}}
"""
    if k == 5:
        rev = f" rev {body}" if i == BODY_TOOL else ""
        return f"""{doc}#[tool(scope = "{s}", destructive, idempotent)]
pub async fn {n}(
    ctx: ToolContext<State>,
{fields(params(i, sig))}) -> Result<{out}, ToolError> {{
    let seen = ctx.state().bump();
    Ok({out}::new(seen as i64, format!("{{id}} done by {i}{rev}")))
}}
"""
    if k == 6:
        return f"""{doc}#[tool(unscoped, read_only)]
pub async fn {n}(ctx: ToolContext<State>) -> {out} {{
    {out}::new(ctx.state().bump() as i64, "{i}".to_owned())
}}
"""
    if k == 7:
        return f"""{doc}#[tool(scope = "{s}", read_only)]
pub async fn {n}(
{fields(params(i, sig))}) -> Result<{out}, ToolError> {{
    Ok({out}::new(ids.len() as i64, format!("{{limit:?}} {i}")))
}}
"""
    if k == 8:
        return f"""{doc}#[tool(scope = "{s}")]
pub async fn {n}(
    ctx: ToolContext<State>,
{fields(params(i, sig))}) -> Result<String, ToolError> {{
    Ok(format!("{{}} {{offset:?}} {i}", ctx.state().bump()))
}}
"""
    # k == 9
    return f"""{input_struct(i)}
{doc}#[tool(scope = ["{s}", "{scope(i + 1)}"], destructive = false, open_world)]
pub async fn {n}(
    ctx: ToolContext<State>,
    Args(input): Args<T{i:02}Input>,
) -> Result<{out}, ToolError> {{
    let seen = ctx.state().bump();
    Ok({out}::new(seen as i64, format!("{{}} {{:?}} {i}", input.query, input.page)))
}}
"""


def rmcp_scoped(i, attr, args, params_type, ok, scopes, body):
    """A tool of rmcp's that checks the caller's `scopes` first: `#[tool]` with the arguments
    `attr` (none if empty), `&self`, its `Parameters` (the pattern `args`), the request
    context, a `Result<ok, String>`, and the `body` statements."""
    body = "".join(f"        {statement}\n" for statement in body)
    attr = f"({attr})" if attr else ""
    return f"""{tool_doc(i, "    ")}    #[tool{attr}]
    async fn t{i:02}(
        &self,
        Parameters({args}): Parameters<{params_type}>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<{ok}, String> {{
        require(&ctx, &[{scopes}])?;
{body}    }}
"""


def rmcp_tool(i, body, sig):
    """The same tool in rmcp's idiom: a `Parameters<T>` struct for the arguments, `Json<T>`
    for structured results, `&self` for the state, and the scope check written by hand (rmcp
    has no scopes), as a user writes them."""
    n = f"t{i:02}"
    k = i % 10
    out = out_type(i)
    s = f'"{scope(i)}"'
    doc = tool_doc(i, "    ")
    params_type = f"T{i:02}Params"
    structs = ""
    if k in PARAMS:
        # Kind 1's struct takes unknown fields (no `deny_unknown_fields`); the others refuse them.
        structs = struct(params_type, params(i, sig), deny_unknown=k != 1)
    elif k in INPUTS:
        structs = input_struct(i)
    if k == 0:
        fn = f"""{doc}    #[tool(annotations(read_only_hint = true))]
    async fn {n}(&self) -> String {{
        "pong {i}".to_owned()
    }}
"""
    elif k == 1:
        fn = rmcp_scoped(i, "annotations(read_only_hint = true, idempotent_hint = true)",
                         f"{params_type} {{ name }}", params_type, "String", s,
                         [f'Ok(format!("hello {{name}} from {i}"))'])
    elif k == 2:
        use_extra = ["let _ = p.extra;"] if EXTRA in params(i, sig) else []
        fn = rmcp_scoped(i, "annotations(idempotent_hint = true)", "p", params_type,
                         f"Json<{out}>", s, use_extra + [
                             f'Ok(Json({out}::new({i}, format!("{{}} {{}} {{}} {{}}", '
                             'p.a, p.b, p.c, p.d))))'])
    elif k == 3:
        fn = f"""{doc}    #[tool]
    async fn {n}(&self, Parameters(p): Parameters<{params_type}>) -> String {{
        format!("{{:?}} {{}} {i}", p.filter, p.limit)
    }}
"""
    elif k == 4:
        fn = rmcp_scoped(i, "annotations(destructive_hint = true)", "input", f"T{i:02}Input",
                         f"Json<{out}>", s, [
                             f'Ok(Json({out}::new(input.amount_cents, format!("{{}} {{:?}}", '
                             'input.customer, input.tags))))'])
    elif k == 5:
        rev = f" rev {body}" if i == BODY_TOOL else ""
        fn = rmcp_scoped(i, "annotations(destructive_hint = true, idempotent_hint = true)",
                         f"{params_type} {{ id }}", params_type, f"Json<{out}>", s,
                         ["let seen = self.state.bump();",
                          f'Ok(Json({out}::new(seen as i64, format!("{{id}} done by {i}{rev}"))))'])
    elif k == 6:
        fn = f"""{doc}    #[tool(annotations(read_only_hint = true))]
    async fn {n}(&self) -> Json<{out}> {{
        Json({out}::new(self.state.bump() as i64, "{i}".to_owned()))
    }}
"""
    elif k == 7:
        fn = rmcp_scoped(i, "annotations(read_only_hint = true)", "p", params_type,
                         f"Json<{out}>", s,
                         [f'Ok(Json({out}::new(p.ids.len() as i64, format!("{{:?}} {i}", p.limit))))'])
    elif k == 8:
        fn = rmcp_scoped(i, "", "p", params_type, "String", s,
                         [f'Ok(format!("{{}} {{:?}} {i}", self.state.bump(), p.offset))'])
    else:
        fn = rmcp_scoped(i, "annotations(destructive_hint = false, open_world_hint = true)",
                         "input", f"T{i:02}Input", f"Json<{out}>", f'{s}, "{scope(i + 1)}"', [
                             "let seen = self.state.bump();",
                             f'Ok(Json({out}::new(seen as i64, format!("{{}} {{:?}} {i}", '
                             'input.query, input.page))))'])
    return structs, fn


COMMON = """use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The server's state.
#[derive(Clone, Default)]
pub struct State(Arc<AtomicU64>);

impl State {
    /// Counts a call.
    pub fn bump(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}
""" + "".join(
    f"""
/// A structured result.
#[derive(Serialize, JsonSchema)]
pub struct Out{j} {{
    /// A number.
    pub count: i64,
    /// A label.
    pub label: String,
    /// When it happened, RFC 3339.
    pub at: Option<String>,
}}

impl Out{j} {{
    fn new(count: i64, label: String) -> Self {{
        Self {{ count, label, at: None }}
    }}
}}
""" for j in range(5))


def manifest(name, dependencies, rest=""):
    """A generated crate's Cargo.toml: a workspace of its own, never published; its own
    `dependencies` come before those both crates have."""
    return f"""[package]
name = "{name}"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
{dependencies}schemars = "1"
serde = {{ version = "1", features = ["derive"] }}
tokio = {{ version = "1", features = ["rt-multi-thread", "macros", "net"] }}
{rest}"""


def ours(runtime, body, sig):
    names = ", ".join(f"tools::t{i:02}" for i in range(TOOLS))
    cargo = manifest("gen-ours", f'mcp-auth-runtime = {{ path = "{runtime}" }}\n', """
# Built as a crates.io dependency is: not incremental (path dependencies are, by default).
[profile.dev.package.mcp-auth-runtime]
incremental = false
[profile.dev.package.mcp-auth-macros]
incremental = false
""")
    tools = "//! 50 tools.\n\nuse mcp_auth_runtime::prelude::*;\n" + COMMON + "".join(
        "\n" + ours_tool(i, body, sig) for i in range(TOOLS))
    main = f"""mod tools;

use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::prelude::*;

const ISSUER: &str = "https://auth.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {{
    let verifier = JwtVerifier::builder(ISSUER, RESOURCE).build()?;
    let server = McpServer::builder("gen", "0.1.0")
        .tools(tools![{names}])
        .state(tools::State::default())
        .resource(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(verifier)
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    mcp_auth_runtime::serve(listener, server, std::future::pending()).await?;
    Ok(())
}}
"""
    return {"Cargo.toml": cargo, "src/tools.rs": tools, "src/main.rs": main}


def rmcp(body, sig):
    cargo = manifest("gen-rmcp", """axum = "0.8"
rmcp = { version = "3.11", features = ["server", "macros", "transport-streamable-http-server"] }
""")
    parts = [rmcp_tool(i, body, sig) for i in range(TOOLS)]
    tools = ("//! 50 tools.\n\n"
             "use rmcp::handler::server::wrapper::{Json, Parameters};\n"
             "use rmcp::service::RequestContext;\n"
             "use rmcp::{RoleServer, tool, tool_router};\n"
             + COMMON + """
/// The caller's scopes, put in the request's extensions by an authentication middleware.
#[derive(Clone)]
pub struct Scopes(pub Vec<String>);

/// Refuses a caller without every one of `scopes` (rmcp has no scopes of its own).
fn require(ctx: &RequestContext<RoleServer>, scopes: &[&str]) -> Result<(), String> {
    let granted = ctx
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Scopes>());
    match granted {
        Some(granted) if scopes.iter().all(|s| granted.0.iter().any(|g| g == s)) => Ok(()),
        _ => Err(format!("insufficient scope: {scopes:?}")),
    }
}
"""
             + "".join("\n" + s for s, _ in parts if s)
             + """
/// The server: its state. rmcp's `tool_router(server_handler)` makes it the `ServerHandler`
/// too, as rmcp's README shows for a server of tools only.
#[derive(Clone, Default)]
pub struct Gen {
    state: State,
}

#[tool_router(server_handler)]
impl Gen {
""" + "\n".join(f for _, f in parts) + """}
""")
    main = """mod tools;

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = StreamableHttpService::new(
        || Ok(tools::Gen::default()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    axum::serve(listener, router).await?;
    Ok(())
}
"""
    return {"Cargo.toml": cargo, "src/tools.rs": tools, "src/main.rs": main}


def write(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                if f.read() == text:
                    continue
        except FileNotFoundError:
            pass
        with open(path, "w") as f:
            f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("runtime", help="path of the mcp-auth-runtime crate")
    parser.add_argument("--body", type=int, default=0)
    parser.add_argument("--sig", type=int, default=0)
    args = parser.parse_args()
    runtime = os.path.abspath(args.runtime)
    write(os.path.join(args.out, "gen-ours"), ours(runtime, args.body, args.sig))
    write(os.path.join(args.out, "gen-rmcp"), rmcp(args.body, args.sig))


if __name__ == "__main__":
    main()
