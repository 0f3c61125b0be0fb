//! The payments API's own database: one table of refunds, each with the user, the tenant and
//! the client that acted for the user, and the idempotency key it was asked with.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{PaymentRefund, RefundRequest};
use crate::store::NOW;

/// The schema: created on every start if missing.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS payment_refunds (
    id              INTEGER PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    invoice_id      TEXT    NOT NULL,
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    reason          TEXT,
    subject         TEXT,              -- the user: the token's `sub`
    client_id       TEXT,              -- the token's `client_id`
    acting_client   TEXT,              -- the client acting for the user: `act.sub`
    created_at      TEXT    NOT NULL,
    UNIQUE (tenant, idempotency_key)
);";

/// Who asked for a refund, from the verified token.
pub(crate) struct Principal {
    pub(crate) tenant: String,
    pub(crate) subject: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) acting_client: Option<String>,
}

/// What [`PaymentsLedger::refund`] did.
pub(crate) enum Recorded {
    /// A new refund.
    New(PaymentRefund),
    /// The refund made earlier with the same key and the same request.
    Repeated(PaymentRefund),
    /// The key was used for another request, or by another principal of the tenant: nothing
    /// done.
    KeyReused,
}

/// The refunds table, one connection behind a mutex; cloning shares it.
#[derive(Clone)]
pub(crate) struct PaymentsLedger {
    conn: Arc<Mutex<Connection>>,
}

impl PaymentsLedger {
    /// Opens (and creates) the database at `path`, or `:memory:`.
    pub(crate) async fn open(path: String) -> anyhow::Result<PaymentsLedger> {
        let conn = tokio::task::spawn_blocking(move || open(&path)).await??;
        Ok(PaymentsLedger {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Records `request` for `principal` under `key`, once: a repeated key answers the refund
    /// it made, and changes nothing.
    pub(crate) async fn refund(
        &self,
        principal: Principal,
        key: String,
        request: RefundRequest,
    ) -> anyhow::Result<Recorded> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Some((earlier, asked)) = find(&tx, &principal.tenant, &key)? {
                // Keys are unique per tenant, but a replay answers only the principal that
                // made the refund: another user of the tenant reusing the key (guessed, or
                // seen in a log) must not be shown the refund, nor told it made it.
                let same_principal = earlier.subject == principal.subject
                    && earlier.client_id == principal.client_id
                    && earlier.acting_client == principal.acting_client;
                return Ok(if asked == request && same_principal {
                    Recorded::Repeated(earlier)
                } else {
                    Recorded::KeyReused
                });
            }
            let id: i64 = tx.query_row(
                &format!(
                    "INSERT INTO payment_refunds
                         (tenant, idempotency_key, invoice_id, amount_cents, reason, subject,
                          client_id, acting_client, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, {NOW})
                     RETURNING id"
                ),
                params![
                    principal.tenant,
                    key,
                    request.invoice_id,
                    request.amount_cents,
                    request.reason,
                    principal.subject,
                    principal.client_id,
                    principal.acting_client,
                ],
                |row| row.get(0),
            )?;
            let refund = find(&tx, &principal.tenant, &key)?
                .context("the refund just written")?
                .0;
            tx.commit()?;
            tracing::info!(
                target: "payments",
                refund = refund.id,
                tenant = refund.tenant,
                subject = refund.subject.as_deref(),
                client_id = refund.client_id.as_deref(),
                acting_client = refund.acting_client.as_deref(),
                invoice = refund.invoice_id,
                amount_cents = refund.amount_cents,
                row = id,
                "refund",
            );
            Ok(Recorded::New(refund))
        })
        .await?
    }
}

/// The refund of `tenant` made with `key`, and the request it was made for.
fn find(
    conn: &Connection,
    tenant: &str,
    key: &str,
) -> rusqlite::Result<Option<(PaymentRefund, RefundRequest)>> {
    conn.prepare_cached(
        "SELECT id, tenant, invoice_id, amount_cents, reason, subject, client_id,
                acting_client, created_at
         FROM payment_refunds WHERE tenant = ?1 AND idempotency_key = ?2",
    )?
    .query_row(params![tenant, key], |row| {
        let refund = PaymentRefund {
            id: format!("PAY-{}", row.get::<_, i64>(0)?),
            tenant: row.get(1)?,
            invoice_id: row.get(2)?,
            amount_cents: row.get(3)?,
            reason: row.get(4)?,
            subject: row.get(5)?,
            client_id: row.get(6)?,
            acting_client: row.get(7)?,
            created_at: row.get(8)?,
        };
        let request = RefundRequest {
            invoice_id: refund.invoice_id.clone(),
            amount_cents: refund.amount_cents,
            reason: refund.reason.clone(),
        };
        Ok((refund, request))
    })
    .optional()
}

fn open(path: &str) -> anyhow::Result<Connection> {
    let conn = crate::store::open_sqlite(path, "the payments database")?;
    conn.execute_batch(SCHEMA)
        .with_context(|| format!("cannot set up the payments database {path}"))?;
    Ok(conn)
}
