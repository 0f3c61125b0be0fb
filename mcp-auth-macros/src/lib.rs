//! Procedural macros for [`mcp-auth-runtime`](https://docs.rs/mcp-auth-runtime).
//!
//! Do not depend on this crate directly: `mcp-auth-runtime` re-exports [`macro@tool`] and
//! [`macro@resource`] and [`macro@prompt`] and documents them, and the code the macro generates names items of that crate only.

mod arg;
mod ast;
mod attr;
mod authorize;
mod expand;
mod header;
mod prompt;
mod resource;
mod tools;
mod valid;

use proc_macro::TokenStream;

/// Turns an `async fn` into a scope-guarded MCP tool.
///
/// See `mcp_auth_runtime::tool` for the documentation.
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::tool(args.into(), item.into()).into()
}

/// Collects `#[tool]` functions into a `Vec<ToolDef>`.
///
/// See `mcp_auth_runtime::tools` for the documentation.
#[proc_macro]
pub fn tools(input: TokenStream) -> TokenStream {
    tools::tools(input.into()).into()
}

/// Turns an `async fn` into a scope-guarded MCP resource or resource template.
///
/// See `mcp_auth_runtime::resource` for the documentation.
#[proc_macro_attribute]
pub fn resource(args: TokenStream, item: TokenStream) -> TokenStream {
    resource::resource(args.into(), item.into()).into()
}

/// Collects `#[resource]` functions into a `Vec<ResourceDef>`.
///
/// See `mcp_auth_runtime::resources` for the documentation.
#[proc_macro]
pub fn resources(input: TokenStream) -> TokenStream {
    tools::resources(input.into()).into()
}

/// Turns an `async fn` into a scope-guarded MCP prompt.
///
/// See `mcp_auth_runtime::prompt` for the documentation.
#[proc_macro_attribute]
pub fn prompt(args: TokenStream, item: TokenStream) -> TokenStream {
    prompt::prompt(args.into(), item.into()).into()
}

/// Collects `#[prompt]` functions into a `Vec<PromptDef>`.
///
/// See `mcp_auth_runtime::prompts` for the documentation.
#[proc_macro]
pub fn prompts(input: TokenStream) -> TokenStream {
    tools::prompts(input.into()).into()
}
