//! What `#[tool]` generates, for a handful of signatures: names, descriptions, scopes,
//! annotations, schemas, and the scope guard inside the function.

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{Annotations, BuildError, ToolDef};
use mcp_auth_test_support::issuer::protected;
use mcp_auth_test_support::{Client, serve_on};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Clone)]
struct Billing {
    currency: &'static str,
}

#[derive(Serialize, JsonSchema)]
struct Invoice {
    id: String,
    status: String,
}

/// Look up an invoice.
///
/// Only the first paragraph is the description.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(
    ctx: ToolContext<Billing>,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<Invoice, ToolError> {
    Ok(Invoice {
        id: invoice_id,
        status: format!("open ({})", ctx.state().currency),
    })
}

/// List invoices,
/// newest first.
#[tool(scope = "invoices:read", read_only, title = "List invoices")]
async fn list_invoices(
    /// Only invoices with this status.
    status: Option<String>,
    /// At most this many.
    #[serde(default)]
    limit: u32,
) -> String {
    format!("{status:?} {limit}")
}

/// Void an invoice.
#[tool(
    name = "invoices.void",
    scope = ["invoices:write", "invoices:read"],
    destructive,
    idempotent,
    open_world = false
)]
async fn void_invoice(_: ToolContext<Billing>, invoice_id: String) -> Result<String, ToolError> {
    Ok(format!("{invoice_id} voided"))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewInvoice {
    /// Who to bill.
    customer: String,
    /// Amount in cents.
    amount_cents: u64,
}

#[tool(scope = "invoices:write", description = "Create an invoice.")]
async fn create_invoice(Args(new): Args<NewInvoice>) -> Result<CallToolResult, ToolError> {
    Ok(CallToolResult::text(format!(
        "{} {}",
        new.customer, new.amount_cents
    )))
}

/// An `Args<T>` input without `#[serde(deny_unknown_fields)]`: open, in its schema and its
/// deserialization alike.
#[derive(Deserialize, JsonSchema)]
struct NoteDraft {
    title: String,
}

/// Draft a note.
#[tool(unscoped)]
async fn draft_note(Args(draft): Args<NoteDraft>) -> String {
    draft.title
}

/// An invoice status, serialized as a string: its schema is no object, which the type's name
/// does not show.
#[derive(Serialize, JsonSchema)]
enum Status {
    Open,
}

/// The status of the latest invoice.
#[tool(unscoped)]
async fn latest_status() -> Status {
    Status::Open
}

/// An alias hides that the result is an array.
type Invoices = Vec<Invoice>;

/// All invoices.
#[tool(unscoped)]
async fn all_invoices() -> Invoices {
    Vec::new()
}

/// Who am I?
#[tool(unscoped)]
async fn whoami(ctx: ToolContext) -> &'static str {
    if ctx.auth().subject().is_some() {
        "someone"
    } else {
        "nobody"
    }
}

mod nested {
    use mcp_auth_runtime::prelude::*;

    /// A tool in another module.
    #[tool(unscoped)]
    pub(crate) async fn elsewhere() -> String {
        String::new()
    }
}

fn defs() -> Vec<ToolDef> {
    tools![
        lookup_invoice,
        list_invoices,
        void_invoice,
        create_invoice,
        whoami,
        nested::elsewhere,
        draft_note,
    ]
}

fn def(name: &str) -> ToolDef {
    defs().into_iter().find(|d| d.name() == name).unwrap()
}

fn ctx(scopes: &[&str]) -> ToolContext<Billing> {
    ToolContext::new(
        Billing { currency: "EUR" },
        AuthInfo::new("alice").with_scopes(scopes.iter().copied()),
    )
}

#[test]
fn names_default_to_the_function_and_can_be_overridden() {
    let names: Vec<_> = defs().iter().map(ToolDef::name).collect();
    assert_eq!(
        names,
        [
            "lookup_invoice",
            "list_invoices",
            "invoices.void",
            "create_invoice",
            "whoami",
            "elsewhere",
            "draft_note",
        ]
    );
}

#[test]
fn description_is_the_first_doc_paragraph_or_the_explicit_one() {
    assert_eq!(def("lookup_invoice").description(), "Look up an invoice.");
    assert_eq!(
        def("list_invoices").description(),
        "List invoices, newest first."
    );
    assert_eq!(def("create_invoice").description(), "Create an invoice.");
    assert_eq!(def("list_invoices").title(), Some("List invoices"));
    assert_eq!(def("lookup_invoice").title(), None);
}

#[test]
fn scopes_and_annotations_are_registered() {
    assert_eq!(def("lookup_invoice").scopes(), ["invoices:read"]);
    assert_eq!(
        def("invoices.void").scopes(),
        ["invoices:write", "invoices:read"]
    );
    assert!(def("whoami").scopes().is_empty());
    assert_eq!(
        def("invoices.void").annotations(),
        Annotations {
            read_only: None,
            destructive: Some(true),
            idempotent: Some(true),
            open_world: Some(false),
        }
    );
    assert_eq!(
        def("lookup_invoice").annotations(),
        Annotations {
            read_only: Some(true),
            ..Annotations::default()
        }
    );
}

#[test]
fn plain_parameters_become_a_closed_object_schema() {
    assert_eq!(
        def("lookup_invoice").input_schema(),
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "invoice_id": { "type": "string", "description": "The invoice id, e.g. INV-2041" }
            },
            "required": ["invoice_id"],
            "additionalProperties": false
        })
    );
    assert_eq!(
        def("list_invoices").input_schema(),
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "status": { "type": ["string", "null"], "description": "Only invoices with this status." },
                "limit": {
                    "type": "integer", "format": "uint32", "minimum": 0,
                    "description": "At most this many.", "default": 0
                }
            },
            "additionalProperties": false
        })
    );
}

#[test]
fn a_tool_without_parameters_takes_an_empty_object() {
    // The form MCP 2025-11-25 recommends for tools without parameters.
    assert_eq!(
        def("whoami").input_schema(),
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false
        })
    );
}

#[test]
fn args_type_is_the_whole_input_schema() {
    assert_eq!(
        def("create_invoice").input_schema(),
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "customer": { "type": "string", "description": "Who to bill." },
                "amount_cents": { "type": "integer", "format": "uint64", "minimum": 0, "description": "Amount in cents." }
            },
            "required": ["customer", "amount_cents"],
            "additionalProperties": false
        })
    );
}

#[tokio::test]
async fn an_args_input_is_closed_by_deny_unknown_fields_in_its_schema_and_its_calls() {
    // `NewInvoice` says `#[serde(deny_unknown_fields)]`, `NoteDraft` does not.
    assert_eq!(
        def("create_invoice").input_schema()["additionalProperties"],
        false
    );
    assert_eq!(
        def("draft_note").input_schema().get("additionalProperties"),
        None
    );

    let (listener, tokens, builder) = protected("tool-macro").await;
    let server = builder
        .tools(tools![create_invoice, draft_note])
        .build()
        .unwrap();
    let addr = serve_on(listener, server.into_router());
    let token = tokens.of("alice", "invoices:write", 60);
    let client = Client::new(addr, Some(&token));
    assert_eq!(client.initialize().await, 200);
    let text = |body: &serde_json::Value| body["result"]["content"][0]["text"].clone();

    let invoice = json!({ "customer": "acme", "amount_cents": 100 });
    let (status, _, body) = client.call("create_invoice", invoice).await;
    assert_eq!(status, 200);
    assert_eq!(text(&body), "acme 100");

    let with_unknown = json!({ "customer": "acme", "amount_cents": 100, "note": "x" });
    let (status, _, body) = client.call("create_invoice", with_unknown).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(
        text(&body),
        "invalid arguments: `note`: unknown field `note`, expected `customer` or `amount_cents`"
    );

    let (_, _, body) = client
        .call("draft_note", json!({ "title": "t", "tags": ["x"] }))
        .await;
    assert_eq!(text(&body), "t", "{body}");
}

#[test]
fn structured_results_have_an_output_schema_and_text_results_none() {
    assert_eq!(
        def("lookup_invoice").output_schema(),
        Some(&json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "status": { "type": "string" }
            },
            "required": ["id", "status"]
        }))
    );
    assert_eq!(def("list_invoices").output_schema(), None);
    assert_eq!(def("create_invoice").output_schema(), None);
}

#[test]
fn a_result_whose_schema_is_no_object_compiles_and_build_refuses_it() {
    for (tools, tool) in [
        (tools![latest_status], "latest_status"),
        (tools![all_invoices], "all_invoices"),
    ] {
        let Err(err) = McpServer::builder("t", "1.0.0")
            .without_auth()
            .tools(tools)
            .build()
        else {
            panic!("`build()` accepted the output schema of `{tool}`");
        };
        assert!(
            matches!(err, BuildError::SchemaNotObject { tool: t, which: "output" } if t == tool),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_direct_call_without_the_scope_is_refused_before_the_body_runs() {
    let err = lookup_invoice(ctx(&[]), "INV-1".into())
        .await
        .err()
        .expect("refused");
    let ToolError::InsufficientScope { required, missing } = err else {
        panic!("expected InsufficientScope, got {err:?}")
    };
    assert_eq!(required, ["invoices:read"]);
    assert_eq!(missing, ["invoices:read"]);

    // Two scopes: holding one is not enough, and the guard names the missing one.
    let err = void_invoice(ctx(&["invoices:write"]), "INV-1".into())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::InsufficientScope { missing, .. } if missing == &["invoices:read"]),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_direct_call_with_the_scope_runs_the_body() {
    let invoice = lookup_invoice(ctx(&["invoices:read"]), "INV-1".into())
        .await
        .unwrap();
    assert_eq!(invoice.id, "INV-1");
    assert_eq!(invoice.status, "open (EUR)");
    let voided = void_invoice(ctx(&["invoices:read", "invoices:write"]), "INV-2".into())
        .await
        .unwrap();
    assert_eq!(voided, "INV-2 voided");
}

#[tokio::test]
async fn unscoped_and_context_free_tools_are_plain_functions() {
    assert_eq!(
        whoami(ToolContext::new((), AuthInfo::new("bob"))).await,
        "someone"
    );
    assert_eq!(list_invoices(None, 3).await, "None 3");
    let result = create_invoice(Args(NewInvoice {
        customer: "acme".into(),
        amount_cents: 100,
    }))
    .await
    .unwrap();
    assert_eq!(result, CallToolResult::text("acme 100"));
}

/// A tool may be named like anything the `tools!` expansion uses inside: its names are private
/// to the expansion.
mod named_like_the_expansion {
    use mcp_auth_runtime::prelude::*;

    /// A tool named `names`.
    #[tool(unscoped)]
    pub(crate) async fn names() -> String {
        "names".into()
    }

    pub(crate) mod nested {
        pub(crate) mod names {
            use mcp_auth_runtime::prelude::*;

            /// A tool inside a module named `names`.
            #[tool(unscoped)]
            pub(crate) async fn inner() -> String {
                "inner".into()
            }
        }
    }

    #[test]
    fn tools_named_like_the_expansions_own_items_are_listed() {
        let defs = tools![names, nested::names::inner];
        let listed: Vec<&str> = defs.iter().map(|def| def.name()).collect();
        assert_eq!(listed, ["names", "inner"]);
    }
}
