//! The billing tools. Scopes say which kind of action a caller may take; the tenant claim of
//! the caller's token says on whose invoices. Each tool goes through
//! [`Store::run`], which scopes every query to that tenant and audits the call.

use mcp_auth_runtime::ElicitAction;
use mcp_auth_runtime::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::audit::{self, Called, Caller, Outcome, Refusal};
use crate::payments::{PaymentRefund, RefundRequest};
use crate::resources::invoice_uri;
use crate::store::{
    Invoice, InvoiceDetail, InvoicePage, ListFilter, MAX_PAGE, RefundOutcome, Status, Store,
    VoidOutcome,
};

/// Default page size of `list_invoices`.
const DEFAULT_PAGE: u32 = 20;

/// List the invoices of your tenant, newest first.
///
/// Filter by status or customer; when the result has a `next_cursor`, pass it back as `cursor`
/// for the next page.
#[tool(scope = "invoices:read", read_only, idempotent)]
pub(crate) async fn list_invoices(
    ctx: ToolContext<Store>,
    /// Only invoices with this status.
    status: Option<Status>,
    /// Only invoices whose customer name contains this text (case-insensitive).
    customer: Option<String>,
    /// Invoices per page, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
) -> Result<InvoicePage, ToolError> {
    const _: () = assert!(DEFAULT_PAGE <= MAX_PAGE);
    let filter = ListFilter {
        status,
        customer,
        limit: limit.unwrap_or(DEFAULT_PAGE),
        cursor,
    };
    ctx.state()
        .run(ctx.auth(), "list_invoices", None, move |ledger| {
            ledger.list(&filter)
        })
        .await
}

/// Look up one invoice of your tenant, with its refunds.
#[tool(scope = "invoices:read", read_only, idempotent)]
pub(crate) async fn lookup_invoice(
    ctx: ToolContext<Store>,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<InvoiceDetail, ToolError> {
    ctx.state()
        .detail(ctx.auth(), Called::tool("lookup_invoice"), invoice_id)
        .await
}

/// A new invoice.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewInvoice {
    /// The customer to bill, e.g. "Wayne Enterprises".
    customer: String,
    /// The amount to bill, in cents; greater than 0.
    #[schemars(range(min = 1))]
    amount_cents: i64,
}

/// Create an open invoice for a customer of your tenant.
///
/// The invoice gets the next id of the tenant and records you as its creator.
#[tool(scope = "invoices:write", destructive = false, idempotent = false)]
pub(crate) async fn create_invoice(
    ctx: ToolContext<Store>,
    Args(new): Args<NewInvoice>,
) -> Result<Invoice, ToolError> {
    ctx.state()
        .run(ctx.auth(), "create_invoice", None, move |ledger| {
            ledger.create(&new.customer, new.amount_cents)
        })
        .await
}

/// Void an open invoice of your tenant.
///
/// Records you as the one who voided it. Voiding a void invoice changes nothing and says so
/// (`changed: false`); a paid invoice cannot be voided, refund it instead.
#[tool(scope = "invoices:write", destructive, idempotent)]
pub(crate) async fn void_invoice(
    ctx: ToolContext<Store>,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<VoidOutcome, ToolError> {
    ctx.state()
        .run(
            ctx.auth(),
            "void_invoice",
            Some(invoice_id.clone()),
            move |ledger| ledger.void(&invoice_id),
        )
        .await
        .inspect(|outcome| {
            if outcome.changed {
                ctx.state()
                    .updated(ctx.auth(), &invoice_uri(&outcome.invoice.id));
            }
        })
}

/// Refunds of one invoice totalling above this many cents also need [`APPROVE`].
pub(crate) const APPROVAL_LIMIT_CENTS: i64 = 100_000;

/// The scope that approves large refunds.
const APPROVE: &str = "payments:approve";

/// Refund a paid invoice of your tenant, in full or in part.
///
/// Without `amount_cents` the rest of the invoice is refunded. The refund is recorded with you
/// as its author; an invoice refunded in full becomes `refunded`. Each call refunds again.
/// A refund that takes the invoice's refunds above 100,000 cents ($1,000.00) in all also needs
/// the `payments:approve` scope. When the client can show a form, the user is asked to confirm
/// first.
#[tool(
    scope = ["invoices:write", "payments:write"],
    require(
        scope = "payments:approve",
        when = amount_cents.is_some_and(|cents| cents > APPROVAL_LIMIT_CENTS)
    ),
    destructive,
    idempotent = false
)]
pub(crate) async fn refund_invoice(
    ctx: ToolContext<Store>,
    /// The invoice id, e.g. INV-2042
    invoice_id: String,
    /// The amount to refund, in cents: at most the total less earlier refunds (default: all of
    /// it).
    #[schemars(range(min = 1))]
    amount_cents: Option<i64>,
    /// Why the money is returned.
    reason: Option<String>,
) -> Result<RefundOutcome, ToolError> {
    // Approval is for refunds that take an invoice's refunds above the limit, in one refund
    // or in several: splitting a refund does not avoid it. What was refunded already is only
    // known from the invoice: decided here, before the confirmation sends anything, so that a
    // refusal is still a `403`; and again in the refund's transaction (`Ledger::refund`), so
    // that refunds racing each other cannot pass together.
    let approved = ctx.require_scopes(&[APPROVE]).is_ok();
    if !approved {
        let id = invoice_id.clone();
        let state = ctx
            .state()
            .peek(ctx.auth(), move |l| l.refund_state(&id))
            .await;
        // Without the state (no such paid invoice), the refund below fails and is audited.
        if let Ok((refunded, rest)) = state
            && refunded + amount_cents.unwrap_or(rest) > APPROVAL_LIMIT_CENTS
        {
            ctx.require_scopes(&[APPROVE])?;
        }
    }
    confirm_refund(&ctx, &invoice_id, amount_cents).await?;
    let limit = (!approved).then_some(APPROVAL_LIMIT_CENTS);
    let store = ctx.state();
    // Checked, paid at the payments API and recorded here under the invoice's lock: refunds
    // of one invoice racing each other are taken one at a time.
    let _refunding = match ctx.auth().tenant() {
        Some(tenant) => Some(store.refunding(tenant, &invoice_id).await),
        None => None,
    };
    let id = invoice_id.clone();
    let checked = store
        .peek(ctx.auth(), move |ledger| {
            ledger.check_refund(&id, amount_cents, limit)
        })
        .await;
    // The payments API first: a refund it did not make is recorded nowhere. A refund the
    // ledger refuses never reaches it: the refund below fails the same way, and is audited.
    let payment = match checked {
        Ok((invoice, amount)) => Some(pay(&ctx, &invoice.id, amount, reason.as_deref()).await?),
        Err(_) => None,
    };
    let amount = payment.as_ref().map(|p| p.amount_cents).or(amount_cents);
    let payment_id = payment.as_ref().map(|p| p.id.clone());
    store
        .run(
            ctx.auth(),
            "refund_invoice",
            Some(invoice_id.clone()),
            move |ledger| {
                ledger.refund(
                    &invoice_id,
                    amount,
                    reason.as_deref(),
                    limit,
                    payment_id.as_deref(),
                )
            },
        )
        .await
        .inspect(|outcome| {
            store.updated(ctx.auth(), &invoice_uri(&outcome.invoice.id));
        })
        .map_err(|err| match &payment {
            // Only when another replica refunded the same invoice in between.
            Some(payment) => {
                tracing::error!(
                    payment = payment.id,
                    invoice = payment.invoice_id,
                    amount_cents = payment.amount_cents,
                    error = %err,
                    "the payments API made a refund the ledger then refused: reconcile it"
                );
                ToolError::new(format!(
                    "the payments API made refund {} of {} cents, but it could not be recorded \
                     here: {err}",
                    payment.id, payment.amount_cents
                ))
            }
            None => err,
        })
}

/// Makes the refund at the payments API, as the caller: with a token exchanged for the
/// payments audience (the caller's own token never leaves this server but for the exchange)
/// and a fresh idempotency key. A failure is audited, and nothing is recorded.
async fn pay(
    ctx: &ToolContext<Store>,
    invoice_id: &str,
    amount_cents: i64,
    reason: Option<&str>,
) -> Result<PaymentRefund, ToolError> {
    let result = async {
        // An API key is no token of the authorization server: exchanging it would send the
        // key there, and it stands for no user whom payments could name.
        if audit::api_key_id(ctx.auth()).is_some() {
            return Err(ToolError::new(
                "refunds are made at the payments API as a user, with a token exchanged for \
                 the user's: sign in with OAuth to refund; an API key cannot be exchanged",
            ));
        }
        let payments = ctx
            .state()
            .payments()
            .ok_or_else(|| ToolError::new("no payments API is configured"))?;
        let token = ctx.downstream_token(payments.downstream()).await?;
        let key = format!(
            "refund-{}",
            crate::random_hex(16).map_err(ToolError::internal)?
        );
        let request = RefundRequest {
            invoice_id: invoice_id.to_owned(),
            amount_cents,
            reason: reason
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
        };
        Ok(payments.refund(&token, &key, &request).await?)
    }
    .await;
    if let Err(err) = &result {
        audit_refund_error(ctx, invoice_id, err).await;
    }
    result
}

/// Audits a refund of `invoice_id` that ended in `err` before anything was recorded.
async fn audit_refund_error(ctx: &ToolContext<Store>, invoice_id: &str, err: &ToolError) {
    ctx.state()
        .record(Refusal {
            caller: Caller::of(ctx.auth()),
            called: Some(Called::tool("refund_invoice")),
            outcome: Outcome::Error,
            invoice: Some(invoice_id.to_owned()),
            detail: Some(err.to_string()),
            request: None,
        })
        .await;
}

/// Asks the user to confirm a refund, when the client supports elicitation: money leaves the
/// tenant, and the model may have misread the request. A client that cannot ask goes ahead:
/// its token's `payments:write` scope is the consent. Anything but an explicit "yes" refunds
/// nothing, and is audited.
async fn confirm_refund(
    ctx: &ToolContext<Store>,
    invoice_id: &str,
    amount_cents: Option<i64>,
) -> Result<(), ToolError> {
    let what = match amount_cents {
        Some(cents) => format!("{cents} cents of {invoice_id}"),
        None => format!("the rest of {invoice_id}"),
    };
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "confirm": {
                "type": "boolean",
                "title": "Refund",
                "description": format!("Refund {what} to the customer")
            }
        },
        "required": ["confirm"]
    });
    let refusal = match ctx.elicit(format!("Refund {what}?"), schema).await {
        Ok(answer) => {
            let confirmed = answer.action == ElicitAction::Accept
                && answer
                    .content
                    .as_ref()
                    .and_then(|c| c.get("confirm"))
                    .and_then(serde_json::Value::as_bool)
                    == Some(true);
            if confirmed {
                return Ok(());
            }
            ToolError::new(format!(
                "the refund of {what} was not confirmed; nothing was refunded"
            ))
        }
        Err(ToolError::MissingClientCapability(_)) => return Ok(()),
        // 2026-07-28: the call ends here and the client retries it with the answer.
        Err(err @ ToolError::InputRequired(_)) => return Err(err),
        Err(err) => err,
    };
    audit_refund_error(ctx, invoice_id, &refusal).await;
    Err(refusal)
}
