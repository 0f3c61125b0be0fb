//! The billing tools over real HTTP, in-process, with tokens signed by the embedded dev
//! issuer: scopes, tenant isolation, the audit trail, and the data surviving a restart.

mod common;

use common::{TestServer, ids, invoice, invoice_amount, new_invoice, summary};
use mcp_auth_test_support::get_json;
use mcp_auth_test_support::modern::Reply;
use serde_json::{Value, json};

const READ: &[&str] = &["invoices:read"];
const WRITE: &[&str] = &["invoices:read", "invoices:write"];
const ALL: &[&str] = &["invoices:read", "invoices:write", "payments:write"];

#[tokio::test]
async fn tools_list_shows_every_tool_with_its_scopes() {
    TestServer::run(async |s| {
        let token = s.token("alice", Some("acme"), READ);
        let reply = Reply::of(common::request(
            &s.http,
            &s.resource,
            &token,
            "tools/list",
            json!({}),
        ))
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let tools: Vec<(String, Value)> = reply.body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_owned(),
                    t["_meta"]["mcp-auth/scopes"].clone(),
                )
            })
            .collect();
        assert_eq!(
            tools,
            [
                ("list_invoices".to_owned(), json!(["invoices:read"])),
                ("lookup_invoice".to_owned(), json!(["invoices:read"])),
                ("create_invoice".to_owned(), json!(["invoices:write"])),
                ("void_invoice".to_owned(), json!(["invoices:write"])),
                (
                    "refund_invoice".to_owned(),
                    json!(["invoices:write", "payments:write"])
                ),
            ]
        );
        let void = &reply.body["result"]["tools"][3];
        assert_eq!(void["annotations"]["destructiveHint"], true);
        assert_eq!(void["annotations"]["idempotentHint"], true);
        let create = &reply.body["result"]["tools"][2];
        assert_eq!(
            create["inputSchema"]["required"],
            json!(["customer", "amount_cents"])
        );
    })
    .await;
}

#[tokio::test]
async fn the_resource_metadata_names_the_dev_issuer_on_the_same_port() {
    TestServer::run(async |s| {
        let origin = format!("http://{}", s.addr);
        let prm: Value =
            get_json(&s.http, s.url("/.well-known/oauth-protected-resource/mcp")).await;
        assert_eq!(prm["resource"], s.resource);
        assert_eq!(prm["authorization_servers"], json!([origin]));
        assert_eq!(
            prm["scopes_supported"],
            json!([
                "invoices:read",
                "invoices:write",
                "payments:approve",
                "payments:write"
            ])
        );
        let issuer: Value =
            get_json(&s.http, s.url("/.well-known/oauth-authorization-server")).await;
        assert_eq!(issuer["issuer"], origin);

        assert_eq!(s.anonymous_list().await, 401);
        assert!(s.audit().is_empty(), "anonymous requests reach no tool");
        // The refusal is in the trail all the same, with its reason and no caller.
        let requests = s.audit_requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let refused = &requests[0];
        assert_eq!(
            (refused.outcome.as_str(), refused.reason.as_deref()),
            ("refused", Some("missing_token")),
            "{refused:?}"
        );
        assert_eq!((&refused.subject, &refused.tool), (&None, &None));
        assert_eq!(refused.client_address.as_deref(), Some("127.0.0.1"));
    })
    .await;
}

/// Anyone can make the server refuse: the rows of refusals without a caller are bounded
/// (60 a minute per peer), so that a flood cannot fill the database the invoices live in.
#[tokio::test]
async fn a_flood_of_anonymous_refusals_adds_a_bounded_number_of_rows() {
    TestServer::run(async |s| {
        for _ in 0..130 {
            assert_eq!(s.anonymous_list().await, 401);
        }
        // 60 in a minute; up to twice that when the flood straddles two minutes.
        let rows = s.audit_requests().len();
        assert!((60..=120).contains(&rows), "{rows} rows for 130 refusals");
    })
    .await;
}

#[tokio::test]
async fn list_invoices_shows_the_callers_tenant_only() {
    TestServer::run(async |s| {
        let acme = [
            "INV-2047", "INV-2046", "INV-2045", "INV-2044", "INV-2043", "INV-2042", "INV-2041",
        ];
        let globex = ["INV-3105", "INV-3104", "INV-3103", "INV-3102", "INV-3101"];
        for (subject, tenant, expected) in [
            ("alice", "acme", &acme[..]),
            ("bob", "globex", &globex),
            // The same bob, but with a token naming tenant acme: the tenant decides, not the user.
            ("bob", "acme", &acme),
            ("eve", "initech", &[]),
        ] {
            let token = s.token(subject, Some(tenant), READ);
            let page = s.ok(&token, "list_invoices", json!({})).await;
            assert_eq!(ids(&page), expected, "{subject} in {tenant}");
            assert!(page.get("next_cursor").is_none(), "{page}");
        }
    })
    .await;
}

#[tokio::test]
async fn list_invoices_filters_by_status_and_customer() {
    TestServer::run(async |s| {
        let token = s.token("alice", Some("acme"), READ);
        let paid = s
            .ok(&token, "list_invoices", json!({ "status": "paid" }))
            .await;
        assert_eq!(ids(&paid), ["INV-2045", "INV-2043", "INV-2042"]);
        let void = s
            .ok(&token, "list_invoices", json!({ "status": "void" }))
            .await;
        assert_eq!(ids(&void), ["INV-2046"]);
        assert_eq!(void["invoices"][0]["voided_by"], "seed");
        let by_customer = s
            .ok(&token, "list_invoices", json!({ "customer": "INDUSTR" }))
            .await;
        assert_eq!(ids(&by_customer), ["INV-2045"]);
        let both = s
            .ok(
                &token,
                "list_invoices",
                json!({ "status": "open", "customer": "E" }),
            )
            .await;
        assert_eq!(ids(&both), ["INV-2047", "INV-2041"]);
        // Another tenant's customer is no match.
        let other = s
            .ok(&token, "list_invoices", json!({ "customer": "Tyrell" }))
            .await;
        assert_eq!(ids(&other), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn list_invoices_pages_with_an_opaque_cursor() {
    TestServer::run(async |s| {
        let token = s.token("alice", Some("acme"), READ);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut args = json!({ "limit": 3 });
            if let Some(cursor) = &cursor {
                args["cursor"] = json!(cursor);
            }
            let page = s.ok(&token, "list_invoices", args).await;
            pages += 1;
            seen.extend(ids(&page));
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => {
                    assert!(!next.contains("INV-"), "the cursor is opaque: {next}");
                    cursor = Some(next.to_owned());
                }
                None => break,
            }
            assert!(pages < 10, "pagination does not end");
        }
        assert_eq!(pages, 3);
        let all = s.ok(&token, "list_invoices", json!({ "limit": 100 })).await;
        assert_eq!(seen, ids(&all));

        for (args, message) in [
            (
                json!({ "limit": 101 }),
                "limit must be between 1 and 100, got 101",
            ),
            (
                json!({ "limit": 0 }),
                "limit must be between 1 and 100, got 0",
            ),
            (json!({ "cursor": "INV-2044" }), "invalid cursor"),
        ] {
            let error = s.call(&token, "list_invoices", args).await.tool_error();
            assert!(error.contains(message), "{error}");
        }
    })
    .await;
}

#[tokio::test]
async fn lookup_invoice_returns_an_invoice_with_its_refunds() {
    TestServer::run(async |s| {
        let read = s.token("alice", Some("acme"), READ);
        let found = s.ok(&read, "lookup_invoice", invoice("INV-2042")).await;
        assert_eq!(found["id"], "INV-2042");
        assert_eq!(found["customer"], "Initech");
        assert_eq!(found["total_cents"], 48_000);
        assert_eq!(found["status"], "paid");
        assert_eq!(found["refunds"], json!([]));

        let all = s.token("alice", Some("acme"), ALL);
        s.ok(
            &all,
            "refund_invoice",
            json!({ "invoice_id": "INV-2042", "amount_cents": 1_000, "reason": "late delivery" }),
        )
        .await;
        let found = s.ok(&read, "lookup_invoice", invoice("inv-2042")).await;
        assert_eq!(found["refunded_cents"], 1_000);
        assert_eq!(found["refunds"][0]["amount_cents"], 1_000);
        assert_eq!(found["refunds"][0]["reason"], "late delivery");
        assert_eq!(found["refunds"][0]["refunded_by"], "alice");

        let missing = s.call(&read, "lookup_invoice", invoice("INV-9999")).await;
        assert_eq!(missing.tool_error(), "invoice INV-9999 not found");
    })
    .await;
}

#[tokio::test]
async fn create_invoice_numbers_after_the_tenants_last_invoice() {
    TestServer::run(async |s| {
        let create = async |token: &str, customer, cents| {
            s.ok(token, "create_invoice", new_invoice(customer, cents))
                .await
        };
        let alice = s.token("alice", Some("acme"), WRITE);
        let created = create(&alice, "  Acme Rockets ", 4_200).await;
        assert_eq!(created["id"], "INV-2048");
        assert_eq!(created["customer"], "Acme Rockets");
        assert_eq!(created["total_cents"], 4_200);
        assert_eq!(created["status"], "open");
        assert_eq!(created["created_by"], "alice");
        assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

        let bob = s.token("bob", Some("globex"), WRITE);
        let created = create(&bob, "Hooli", 1).await;
        assert_eq!(created["id"], "INV-3106");
        assert_eq!(created["created_by"], "bob");

        let fresh = s.token("carol", Some("initech"), WRITE);
        let created = create(&fresh, "Wayne", 5).await;
        assert_eq!(created["id"], "INV-1001");

        // Who created which invoice, in which tenant.
        let created = [
            ("alice", "acme", "INV-2048"),
            ("bob", "globex", "INV-3106"),
            ("carol", "initech", "INV-1001"),
        ];
        s.assert_audit(
            &created.map(|(who, tenant, id)| {
                ("create_invoice", "ok", Some(who), Some(tenant), Some(id))
            }),
        );
    })
    .await;
}

#[tokio::test]
async fn create_invoice_rejects_a_bad_amount_with_a_tool_error() {
    TestServer::run(async |s| {
        let before = s.snapshot();
        let alice = s.token("alice", Some("acme"), WRITE);
        for (args, message) in [
            (
                new_invoice("Hooli", 0),
                "amount_cents must be greater than 0, got 0",
            ),
            (
                new_invoice("Hooli", -500),
                "amount_cents must be greater than 0, got -500",
            ),
            (
                new_invoice(" ", 100),
                "customer must be a name of 1 to 200 characters",
            ),
        ] {
            let error = s.call(&alice, "create_invoice", args).await.tool_error();
            assert_eq!(error, message);
        }
        // Not even a number: the framework refuses the arguments before the tool runs.
        let ten = json!({ "customer": "Hooli", "amount_cents": "ten" });
        let error = s.call(&alice, "create_invoice", ten).await.tool_error();
        assert!(error.starts_with("invalid arguments:"), "{error}");
        assert!(error.contains("amount_cents"), "{error}");
        assert_eq!(s.snapshot(), before);

        let row = |outcome| ("create_invoice", outcome, Some("alice"), Some("acme"), None);
        s.assert_audit(&[
            row("error"),
            row("error"),
            row("error"),
            row("invalid_arguments"),
        ]);
    })
    .await;
}

#[tokio::test]
async fn void_invoice_is_idempotent_and_records_who_voided() {
    TestServer::run(async |s| {
        let alice = s.token("alice", Some("acme"), WRITE);
        let first = s.ok(&alice, "void_invoice", invoice("INV-2041")).await;
        assert_eq!(first["changed"], true);
        assert_eq!(first["message"], "INV-2041 is now void");
        assert_eq!(first["invoice"]["status"], "void");
        assert_eq!(first["invoice"]["voided_by"], "alice");
        let voided_at = first["invoice"]["voided_at"].as_str().unwrap().to_owned();

        // Again, by someone else: nothing changes, and the answer says so.
        let bob = s.token("bob", Some("acme"), WRITE);
        let second = s.ok(&bob, "void_invoice", invoice("INV-2041")).await;
        assert_eq!(second["changed"], false);
        assert_eq!(
            second["message"],
            format!("INV-2041 was already void (voided by alice at {voided_at}); nothing changed")
        );
        assert_eq!(second["invoice"], first["invoice"]);
        assert_eq!(
            s.stored("acme", 2041),
            Some(("void".into(), 0, Some("alice".into())))
        );

        // A paid invoice is refunded, not voided.
        let error = s
            .call(&alice, "void_invoice", invoice("INV-2042"))
            .await
            .tool_error();
        assert_eq!(
            error,
            "INV-2042 is paid: a paid invoice cannot be voided, refund it instead"
        );
        assert_eq!(s.stored("acme", 2042), Some(("paid".into(), 0, None)));

        let row = |outcome, who, id| ("void_invoice", outcome, Some(who), Some("acme"), Some(id));
        s.assert_audit(&[
            row("ok", "alice", "INV-2041"),
            row("ok", "bob", "INV-2041"),
            row("error", "alice", "INV-2042"),
        ]);
    })
    .await;
}

#[tokio::test]
async fn refund_invoice_refunds_a_paid_invoice_up_to_its_total() {
    TestServer::run(async |s| {
        let alice = s.token("alice", Some("acme"), ALL);
        let refund = async |args| s.call(&alice, "refund_invoice", args).await;
        let partial = refund(invoice_amount("INV-2043", 9_900)).await.structured();
        assert_eq!(partial["refund"]["amount_cents"], 9_900);
        assert_eq!(partial["refund"]["refunded_by"], "alice");
        assert!(partial["refund"]["id"].as_str().unwrap().starts_with("RF-"));
        assert_eq!(partial["invoice"]["status"], "paid");
        assert_eq!(partial["invoice"]["refunded_cents"], 9_900);

        let error = refund(invoice_amount("INV-2043", 90_001))
            .await
            .tool_error();
        assert_eq!(
            error,
            "amount_cents must be between 1 and 90000 (the total of INV-2043 less what was \
             refunded already), got 90001"
        );
        let error = refund(invoice_amount("INV-2043", 0)).await.tool_error();
        assert!(
            error.starts_with("amount_cents must be between 1 and 90000"),
            "{error}"
        );

        // Without an amount, the rest.
        let rest = refund(invoice("INV-2043")).await.structured();
        assert_eq!(rest["refund"]["amount_cents"], 90_000);
        assert_eq!(rest["invoice"]["status"], "refunded");
        assert_eq!(rest["invoice"]["refunded_cents"], 99_900);
        assert_eq!(
            s.stored("acme", 2043),
            Some(("refunded".into(), 99_900, None))
        );

        for (id, status) in [
            ("INV-2043", "refunded"),
            ("INV-2041", "open"),
            ("INV-2046", "void"),
        ] {
            let error = refund(invoice(id)).await.tool_error();
            assert_eq!(
                error,
                format!("{id} is {status}: only paid invoices can be refunded")
            );
        }
        let outcomes: Vec<_> = s.audit().into_iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            ["ok", "error", "error", "ok", "error", "error", "error"]
        );
    })
    .await;
}

#[tokio::test]
async fn refund_invoice_needs_both_scopes() {
    TestServer::run(async |s| {
        let before = s.snapshot();
        for scopes in [
            &["invoices:read", "invoices:write"][..],
            &["invoices:read", "payments:write"],
            &["invoices:read"],
        ] {
            let token = s.token("alice", Some("acme"), scopes);
            s.call(&token, "refund_invoice", invoice("INV-2042"))
                .await
                .assert_insufficient_scope("invoices:write payments:write");
        }
        assert_eq!(s.snapshot(), before);
        let both = s.token("alice", Some("acme"), &["invoices:write", "payments:write"]);
        let refund = s.ok(&both, "refund_invoice", invoice("INV-2042")).await;
        assert_eq!(refund["invoice"]["status"], "refunded");
    })
    .await;
}

#[tokio::test]
async fn write_tools_with_a_read_only_token_are_403_insufficient_scope() {
    TestServer::run(async |s| {
        let before = s.snapshot();
        let read = s.token("alice", Some("acme"), READ);
        s.call(&read, "create_invoice", new_invoice("Hooli", 100))
            .await
            .assert_insufficient_scope("invoices:write");
        s.call(&read, "void_invoice", invoice("INV-2041"))
            .await
            .assert_insufficient_scope("invoices:write");
        s.call(&read, "refund_invoice", invoice("INV-2042"))
            .await
            .assert_insufficient_scope("invoices:write payments:write");
        // And a write-only token cannot read.
        let write_only = s.token("alice", Some("acme"), &["invoices:write"]);
        s.call(&write_only, "list_invoices", json!({}))
            .await
            .assert_insufficient_scope("invoices:read");
        assert_eq!(s.snapshot(), before);

        // The refusals are in the audit trail, with who tried. Each is written just after
        // its response, by a task of its own: in any order.
        let audit = s.audit();
        let row = |tool, invoice| {
            (
                tool,
                "insufficient_scope",
                Some("alice"),
                Some("acme"),
                invoice,
            )
        };
        let mut rows = summary(&audit);
        rows.sort();
        let mut expected = [
            row("create_invoice", None),
            row("void_invoice", Some("INV-2041")),
            row("refund_invoice", Some("INV-2042")),
            row("list_invoices", None),
        ];
        expected.sort();
        assert_eq!(rows, expected);
        for row in &audit {
            let requires = match row.tool.as_str() {
                "list_invoices" => "`invoices:read`",
                "refund_invoice" => {
                    "`invoices:write payments:write`, and `payments:approve` for some calls"
                }
                _ => "`invoices:write`",
            };
            let detail = format!("insufficient scope: the tool requires {requires}");
            assert_eq!(row.detail, Some(detail), "{row:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn another_tenants_invoices_are_not_found_and_unchanged() {
    TestServer::run(async |s| {
        let before = s.snapshot();
        let alice = s.token("alice", Some("acme"), ALL);
        // INV-3101 is globex's and open, INV-3102 globex's and paid; INV-9999 exists nowhere.
        // Each answer is the same as for an invoice that does not exist.
        for (tool, args) in [
            ("lookup_invoice", invoice("INV-3101")),
            ("void_invoice", invoice("INV-3101")),
            ("refund_invoice", invoice("INV-3102")),
            ("refund_invoice", invoice_amount("INV-3102", 1)),
        ] {
            let id = args["invoice_id"].as_str().unwrap();
            let error = s.call(&alice, tool, args.clone()).await.tool_error();
            assert_eq!(error, format!("invoice {id} not found"), "{tool}");
            let mut missing = args.clone();
            missing["invoice_id"] = json!("INV-9999");
            let error = s.call(&alice, tool, missing).await.tool_error();
            assert_eq!(error, "invoice INV-9999 not found", "{tool}");
        }
        let listed = s.ok(&alice, "list_invoices", json!({ "limit": 100 })).await;
        assert!(
            ids(&listed).iter().all(|id| id.starts_with("INV-204")),
            "{listed}"
        );
        let searched = s
            .ok(&alice, "list_invoices", json!({ "customer": "Wonka" }))
            .await;
        assert_eq!(ids(&searched), Vec::<String>::new());
        assert_eq!(s.snapshot(), before);
        assert_eq!(s.stored("globex", 3101), Some(("open".into(), 0, None)));
        assert_eq!(s.stored("globex", 3102), Some(("paid".into(), 0, None)));

        // bob of globex still sees his invoices as they were.
        let bob = s.token("bob", Some("globex"), READ);
        let found = s.ok(&bob, "lookup_invoice", invoice("INV-3101")).await;
        assert_eq!(found["status"], "open");

        let probes: Vec<_> = s
            .audit()
            .into_iter()
            .filter(|r| r.outcome == "error")
            .map(|r| (r.subject, r.tenant, r.invoice_id))
            .collect();
        assert_eq!(probes.len(), 8);
        assert!(probes.iter().all(|(subject, tenant, _)| {
            subject.as_deref() == Some("alice") && tenant.as_deref() == Some("acme")
        }));
        assert_eq!(probes[0].2.as_deref(), Some("INV-3101"));
    })
    .await;
}

#[tokio::test]
async fn a_token_without_a_tenant_touches_nothing() {
    TestServer::run(async |s| {
        let before = s.snapshot();
        let token = s.token("mallory", None, ALL);
        for (tool, args) in [
            ("list_invoices", json!({})),
            ("lookup_invoice", invoice("INV-2041")),
            ("create_invoice", new_invoice("Hooli", 100)),
            ("void_invoice", invoice("INV-2041")),
            ("refund_invoice", invoice("INV-2042")),
        ] {
            let error = s.call(&token, tool, args).await.tool_error();
            assert!(error.contains("names no tenant"), "{tool}: {error}");
        }
        assert_eq!(s.snapshot(), before);
        let audit = s.audit();
        assert_eq!(audit.len(), 5);
        assert!(audit.iter().all(|r| r.tenant.is_none()
            && r.outcome == "error"
            && r.subject.as_deref() == Some("mallory")));
    })
    .await;
}

#[tokio::test]
async fn every_call_is_audited_with_its_actor_and_never_the_token() {
    TestServer::run(async |s| {
        let alice = s.token("alice", Some("acme"), ALL);
        let bob = s.token("bob", Some("globex"), READ);
        s.ok(&alice, "list_invoices", json!({ "status": "open" }))
            .await;
        s.ok(&bob, "lookup_invoice", invoice("INV-3101")).await;
        s.ok(&alice, "create_invoice", new_invoice("Hooli", 700))
            .await;
        s.ok(&alice, "void_invoice", invoice("INV-2048")).await;
        s.ok(&alice, "refund_invoice", invoice_amount("INV-2045", 5))
            .await;
        s.call(&bob, "void_invoice", invoice("INV-3101"))
            .await
            .assert_insufficient_scope("invoices:write");
        s.call(&bob, "lookup_invoice", invoice("INV-2041"))
            .await
            .tool_error();

        let audit = s.audit();
        let (acme, globex) = (Some("acme"), Some("globex"));
        assert_eq!(
            summary(&audit),
            [
                ("list_invoices", "ok", Some("alice"), acme, None),
                (
                    "lookup_invoice",
                    "ok",
                    Some("bob"),
                    globex,
                    Some("INV-3101")
                ),
                (
                    "create_invoice",
                    "ok",
                    Some("alice"),
                    acme,
                    Some("INV-2048")
                ),
                ("void_invoice", "ok", Some("alice"), acme, Some("INV-2048")),
                (
                    "refund_invoice",
                    "ok",
                    Some("alice"),
                    acme,
                    Some("INV-2045")
                ),
                (
                    "void_invoice",
                    "insufficient_scope",
                    Some("bob"),
                    globex,
                    Some("INV-3101")
                ),
                (
                    "lookup_invoice",
                    "error",
                    Some("bob"),
                    globex,
                    Some("INV-2041")
                ),
            ]
        );
        assert_eq!(
            audit[6].detail.as_deref(),
            Some("invoice INV-2041 not found")
        );
        for row in &audit {
            assert_eq!(row.client_id.as_deref(), Some("billing-tests"), "{row:?}");
            // RFC 3339 in UTC, e.g. 2026-03-01T09:30:00.123Z.
            assert_eq!(row.at.len(), 24, "{}", row.at);
            assert!(
                row.at.ends_with('Z') && row.at.as_bytes()[10] == b'T',
                "{}",
                row.at
            );
            let text = format!("{row:?}");
            assert!(
                !text.contains("eyJ"),
                "a token leaked into the audit trail: {text}"
            );
            assert!(!text.contains(&alice[..40]) && !text.contains(&bob[..40]));
        }
    })
    .await;
}

#[tokio::test]
async fn the_data_survives_a_restart_and_is_seeded_once() {
    TestServer::run(async |s| {
        let alice = s.token("alice", Some("acme"), WRITE);
        s.ok(&alice, "create_invoice", new_invoice("Hooli", 700))
            .await;
        s.ok(&alice, "void_invoice", invoice("INV-2044")).await;
        let (dir, port) = s.stop().await;

        // Same data directory and port: the same key, so the old token still works.
        let s = TestServer::start_in(dir, port).await;
        let all = s.ok(&alice, "list_invoices", json!({ "limit": 100 })).await;
        assert_eq!(ids(&all).len(), 8);
        assert_eq!(ids(&all)[0], "INV-2048");
        assert_eq!(
            s.stored("acme", 2044),
            Some(("void".into(), 0, Some("alice".into())))
        );
        assert_eq!(s.audit().len(), 3);
    })
    .await;
}

/// `tools/call refund_invoice` as a 2026-07-28 client that can show forms (elicitation),
/// with the answers of earlier rounds.
async fn refund_with_forms(s: &TestServer, token: &str, mut params: Value) -> Reply {
    params["name"] = json!("refund_invoice");
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": { "elicitation": {} },
    });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params });
    Reply::of(
        s.http
            .post(&s.resource)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "refund_invoice")
            .body(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn a_client_that_can_show_forms_confirms_a_refund_first() {
    TestServer::run(async |s| {
        let all = s.token("alice", Some("acme"), ALL);
        let read = s.token("alice", Some("acme"), READ);
        let args = invoice_amount("INV-2042", 1_000);
        let refunded = async |s: &TestServer| {
            s.ok(&read, "lookup_invoice", invoice("INV-2042"))
                .await["refunded_cents"]
                .clone()
        };

        // First round: the question, nothing refunded yet.
        let asked = refund_with_forms(&s, &all, json!({ "arguments": args })).await;
        assert_eq!(asked.status, 200, "{asked:?}");
        let result = &asked.body["result"];
        assert_eq!(result["resultType"], "input_required", "{asked:?}");
        let question = &result["inputRequests"]["elicitation-0"];
        assert_eq!(question["method"], "elicitation/create");
        assert_eq!(question["params"]["message"], "Refund 1000 cents of INV-2042?");
        let state = result["requestState"].clone();
        assert_eq!(refunded(&s).await, 0);

        // Declined: nothing refunded, and the refusal is audited.
        let declined = refund_with_forms(
            &s,
            &all,
            json!({
                "arguments": args,
                "inputResponses": { "elicitation-0": { "action": "accept", "content": { "confirm": false } } },
                "requestState": state,
            }),
        )
        .await;
        assert!(
            declined.tool_error().contains("was not confirmed; nothing was refunded"),
            "{declined:?}"
        );
        assert_eq!(refunded(&s).await, 0);
        let audit = s.audit();
        let last = audit.iter().rev().find(|row| row.tool == "refund_invoice");
        let last = last.expect("the refusal is audited");
        assert_eq!(last.outcome, "error");
        assert!(last.detail.as_deref().unwrap().contains("not confirmed"));

        // The declined round spent its state: a change of mind asks again.
        let yes = json!({ "elicitation-0": { "action": "accept", "content": { "confirm": true } } });
        let reused = refund_with_forms(
            &s,
            &all,
            json!({ "arguments": args, "inputResponses": yes, "requestState": state }),
        )
        .await;
        assert_eq!(reused.body["error"]["code"], -32602, "{reused:?}");
        assert_eq!(refunded(&s).await, 0);
        let asked = refund_with_forms(&s, &all, json!({ "arguments": args })).await;
        let state = asked.body["result"]["requestState"].clone();

        // Confirmed: refunded once.
        let confirmed = refund_with_forms(
            &s,
            &all,
            json!({ "arguments": args, "inputResponses": yes, "requestState": state }),
        )
        .await;
        assert_eq!(confirmed.structured()["invoice"]["refunded_cents"], 1_000);
        assert_eq!(refunded(&s).await, 1_000);
    })
    .await;
}

#[tokio::test]
async fn a_refund_confirmation_cannot_be_skipped_or_replayed() {
    TestServer::run(async |s| {
        let alice = s.token("alice", Some("acme"), ALL);
        let yes =
            json!({ "elicitation-0": { "action": "accept", "content": { "confirm": true } } });
        let ten_of_2042 = invoice_amount("INV-2042", 10);
        let before = s.snapshot();
        let refused = |reply: &Reply| {
            assert_eq!(reply.body["error"]["code"], -32602, "{reply:?}");
            assert_eq!(s.snapshot(), before, "{reply:?}");
        };

        // Skipped: the confirmation answered on the first call, before it was asked, counts
        // for nothing: the client is asked (MRTR §error handling).
        let skipped = refund_with_forms(
            &s,
            &alice,
            json!({ "arguments": ten_of_2042, "inputResponses": yes }),
        )
        .await;
        assert_eq!(
            skipped.body["result"]["resultType"], "input_required",
            "{skipped:?}"
        );
        assert_eq!(s.snapshot(), before, "{skipped:?}");

        // Replayed: a confirmation of 10 cents of INV-2042 onto another invoice, another
        // amount, the rest of the invoice, or by another user of the tenant.
        let asked = refund_with_forms(&s, &alice, json!({ "arguments": ten_of_2042 })).await;
        let state = asked.body["result"]["requestState"].clone();
        assert!(state.is_string(), "{asked:?}");
        let carol = s.token("carol", Some("acme"), ALL);
        for (token, arguments) in [
            (&alice, invoice_amount("INV-2043", 10)),
            (&alice, invoice_amount("INV-2042", 1000)),
            (&alice, invoice("INV-2042")),
            (&carol, ten_of_2042.clone()),
        ] {
            let replayed = refund_with_forms(
                &s,
                token,
                json!({ "arguments": arguments, "inputResponses": yes, "requestState": state }),
            )
            .await;
            refused(&replayed);
        }

        // The confirmation counts for its own call only: 10 cents of INV-2042.
        let confirmed = refund_with_forms(
            &s,
            &alice,
            json!({ "arguments": ten_of_2042, "inputResponses": yes, "requestState": state }),
        )
        .await;
        assert_eq!(confirmed.structured()["refund"]["amount_cents"], 10);
        assert_eq!(s.stored("acme", 2042), Some(("paid".into(), 10, None)));
        assert_eq!(s.stored("acme", 2043), Some(("paid".into(), 0, None)));
    })
    .await;
}

#[tokio::test]
async fn a_confirmed_refund_cannot_be_replayed() {
    TestServer::run(async |s| {
        let alice = s.token("alice", Some("acme"), ALL);
        let args = invoice_amount("INV-2042", 100);
        let asked = refund_with_forms(&s, &alice, json!({ "arguments": args })).await;
        let state = asked.body["result"]["requestState"].clone();
        assert!(state.is_string(), "{asked:?}");
        let retry = json!({
            "arguments": args,
            "inputResponses": { "elicitation-0": { "action": "accept", "content": { "confirm": true } } },
            "requestState": state,
        });
        let confirmed = refund_with_forms(&s, &alice, retry.clone()).await;
        assert_eq!(confirmed.structured()["refund"]["amount_cents"], 100);
        let after_one = s.snapshot();
        assert!(after_one.contains(&"refunds: 1".to_owned()), "{after_one:?}");

        // The same request again, as an attacker who captured it would send it.
        let replayed = refund_with_forms(&s, &alice, retry).await;
        assert_eq!(replayed.body["error"]["code"], -32602, "{replayed:?}");
        assert!(
            replayed.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already been used"),
            "{replayed:?}"
        );
        assert_eq!(s.snapshot(), after_one, "refunded once");
        assert_eq!(s.stored("acme", 2042), Some(("paid".into(), 100, None)));
        let audit = s.audit();
        let last = audit.iter().rev().find(|row| row.tool == "refund_invoice");
        assert_eq!(
            last.expect("the replay is audited").outcome,
            "invalid_request_state"
        );
    })
    .await;
}

#[tokio::test]
async fn refund_ids_are_numbered_per_tenant() {
    TestServer::run(async |s| {
        let alice = s.token("alice", Some("acme"), ALL);
        let bob = s.token("bob", Some("globex"), ALL);
        let refund = async |token: &str, invoice: &str| {
            s.ok(token, "refund_invoice", invoice_amount(invoice, 1))
                .await["refund"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(refund(&alice, "INV-2042").await, "RF-1");
        // Another tenant's refunds neither take nor reveal acme's numbers.
        assert_eq!(refund(&bob, "INV-3102").await, "RF-1");
        assert_eq!(refund(&bob, "INV-3104").await, "RF-2");
        assert_eq!(refund(&alice, "INV-2043").await, "RF-2");
        let detail = s.ok(&bob, "lookup_invoice", invoice("INV-3104")).await;
        assert_eq!(detail["refunds"][0]["id"], "RF-2");
    })
    .await;
}

/// `--dev-cors-origin` lets the named web origin (the MCP Inspector's, say) use the dev
/// issuer's credential endpoints from the browser; any other origin still gets nothing.
#[tokio::test]
async fn dev_cors_origins_are_named_on_the_command_line() {
    let inspector = "http://localhost:6274";
    let server = TestServer::start_with(&["--dev-cors-origin", inspector]).await;
    for (origin, allowed) in [(inspector, true), ("https://evil.example", false)] {
        let acao = preflight_from(&server, origin).await;
        assert_eq!(acao.as_deref(), allowed.then_some(origin), "{origin}");
        let registered = register_from(&server, origin).await;
        assert_eq!(registered.is_success(), allowed, "{origin}");
    }
    // Without the option, the Inspector's origin is a foreign one.
    let plain = TestServer::start().await;
    assert_eq!(register_from(&plain, inspector).await, 403);
}

/// The `Access-Control-Allow-Origin` of the answer to a CORS preflight of `POST /token` from a
/// web page of `origin`.
async fn preflight_from(server: &TestServer, origin: &str) -> Option<String> {
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/token"));
    let preflight = preflight.header("access-control-request-method", "POST");
    let response = preflight.header("origin", origin).send().await.unwrap();
    let allowed = response.headers().get("access-control-allow-origin");
    allowed.map(|v| v.to_str().unwrap().to_owned())
}

/// Registers a client (RFC 7591) from a web page of `origin`, as a browser would.
async fn register_from(server: &TestServer, origin: &str) -> reqwest::StatusCode {
    let registration = json!({ "redirect_uris": ["http://127.0.0.1:9/cb"] });
    let request = server
        .http
        .post(server.url("/register"))
        .header("origin", origin);
    request.json(&registration).send().await.unwrap().status()
}
