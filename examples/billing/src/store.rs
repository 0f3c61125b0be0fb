//! The invoice store: SQLite through `rusqlite`, one connection behind a mutex.
//!
//! Tools reach the data only through [`Store::run`], which hands them a [`Ledger`]: a view of
//! one tenant's invoices inside one transaction. Every query of the ledger names the tenant,
//! so no tool can read or change another tenant's invoices, and `run` writes the audit entry
//! of every call, so no tool can forget it.
//!
//! SQLite calls block, so they run on tokio's blocking pool (`spawn_blocking`), never on the
//! async workers. One connection serializes the calls: ample for an example, and it keeps
//! every transaction trivially isolated.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use mcp_auth_runtime::ToolError;
use mcp_auth_runtime::auth::AuthInfo;
use rusqlite::{Connection, OptionalExtension as _, Row, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::audit::{self, Called, Caller, Entry, Outcome, Refusal};
use crate::payments::PaymentsClient;

/// The schema this binary writes: `PRAGMA user_version`.
const SCHEMA_VERSION: i32 = 5;

/// `CREATE ... IF NOT EXISTS` statements of version 1, run on every start.
const SCHEMA: &str = include_str!("../schema.sql");

/// The steps from each version to the next: `UPGRADES[0]` brings version 1 to 2. Each runs
/// once, in the transaction that sets the new version.
const UPGRADES: &[&str] = &[
    // 2: refund ids numbered per tenant (a global sequence showed every tenant how many
    // refunds the others made), and audit outcomes for every refusal.
    "ALTER TABLE refunds ADD COLUMN number INTEGER;
     UPDATE refunds SET number = (SELECT count(*) FROM refunds AS earlier
                                  WHERE earlier.tenant = refunds.tenant
                                    AND earlier.id <= refunds.id);
     CREATE UNIQUE INDEX refunds_by_number ON refunds (tenant, number);
     CREATE TABLE audit_v2 (
         id              INTEGER PRIMARY KEY,
         at              TEXT    NOT NULL,
         subject         TEXT,
         client_id       TEXT,
         tenant          TEXT,
         tool            TEXT    NOT NULL,
         outcome         TEXT    NOT NULL
                         CHECK (outcome IN ('ok', 'error', 'insufficient_scope',
                                            'invalid_arguments', 'rate_limited',
                                            'invalid_request_state')),
         invoice_id      TEXT,
         detail          TEXT
     );
     INSERT INTO audit_v2 SELECT * FROM audit;
     DROP TABLE audit;
     ALTER TABLE audit_v2 RENAME TO audit;
     CREATE INDEX audit_by_tenant ON audit (tenant, id);",
    // 3: resource reads and prompt gets are audited too; `kind` says what a row's `tool`
    // names.
    "ALTER TABLE audit ADD COLUMN kind TEXT NOT NULL DEFAULT 'tool'
         CHECK (kind IN ('tool', 'resource', 'prompt'));",
    // 4: the principal of API-key calls (the key's id) and the client acting for the subject
    // (`act.sub` of an exchanged token); refunds name the payment the payments API made.
    "ALTER TABLE audit ADD COLUMN api_key_id TEXT;
     ALTER TABLE audit ADD COLUMN acting_client TEXT;
     ALTER TABLE refunds ADD COLUMN payment_id TEXT;",
    // 5: every refusal, those before the request's body was read included (no caller, no
    // tool: a `401`), with why (`reason`) and the request's identifiers. `tool` and `kind`
    // may now be absent and `outcome` gains `refused`, so the table is rebuilt. The old
    // refusals for scope and rate limits get their reason, which is their outcome.
    "CREATE TABLE audit_v5 (
         id               INTEGER PRIMARY KEY,
         at               TEXT    NOT NULL,
         subject          TEXT,
         client_id        TEXT,
         tenant           TEXT,
         tool             TEXT,
         outcome          TEXT    NOT NULL
                          CHECK (outcome IN ('ok', 'error', 'insufficient_scope',
                                             'invalid_arguments', 'rate_limited',
                                             'invalid_request_state', 'refused')),
         invoice_id       TEXT,
         detail           TEXT,
         kind             TEXT    CHECK (kind IN ('tool', 'resource', 'prompt')),
         api_key_id       TEXT,
         acting_client    TEXT,
         reason           TEXT,
         method           TEXT,
         request_id       TEXT,
         trace_id         TEXT,
         session_id       TEXT,
         protocol_version TEXT,
         client_address   TEXT,
         duration_ms      REAL
     );
     INSERT INTO audit_v5 (id, at, subject, client_id, tenant, tool, outcome, invoice_id,
                           detail, kind, api_key_id, acting_client, method)
         SELECT id, at, subject, client_id, tenant, tool, outcome, invoice_id,
                detail, kind, api_key_id, acting_client,
                CASE kind WHEN 'tool' THEN 'tools/call' WHEN 'resource' THEN 'resources/read'
                          WHEN 'prompt' THEN 'prompts/get' END
         FROM audit;
     UPDATE audit_v5 SET reason = outcome WHERE outcome IN ('insufficient_scope', 'rate_limited');
     DROP TABLE audit;
     ALTER TABLE audit_v5 RENAME TO audit;
     CREATE INDEX audit_by_tenant ON audit (tenant, id);",
];

/// The current time as SQLite writes it: RFC 3339, UTC, milliseconds.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Largest page of [`Ledger::list`].
pub(crate) const MAX_PAGE: u32 = 100;

/// How many refusals may wait to be written at once. Beyond it a refusal is counted and
/// logged, not queued: refused calls cost the caller nothing, so they must not be able to
/// queue unbounded work (and memory) in front of the database.
const MAX_PENDING_REFUSALS: usize = 1024;

/// The shared store; cloning is cheap.
#[derive(Clone)]
pub(crate) struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Permits for refusals waiting to be written ([`MAX_PENDING_REFUSALS`]).
    pending_refusals: Arc<tokio::sync::Semaphore>,
    /// Refusals not written because too many were waiting.
    dropped_refusals: Arc<std::sync::atomic::AtomicU64>,
    /// Publishes resource updates to subscribed clients, once the server is configured.
    updates: Option<mcp_auth_runtime::Notifier>,
    /// The payments API refunds are recorded at, once the server is configured.
    payments: Option<PaymentsClient>,
    /// One lock per invoice being refunded: a refund is checked, made at the payments API and
    /// recorded here under it, so that refunds of one invoice racing each other cannot both
    /// pass the checks and reach the payments API.
    refunding: RefundLocks,
}

impl Store {
    /// Opens the database at `path` (`:memory:` for a throw-away one), creating the schema and
    /// the demo data when the database is new.
    pub(crate) async fn open(path: String) -> anyhow::Result<Store> {
        let conn = tokio::task::spawn_blocking(move || open(&path)).await??;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            pending_refusals: Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_REFUSALS)),
            dropped_refusals: Arc::default(),
            updates: None,
            payments: None,
            refunding: Arc::default(),
        })
    }

    /// The store, recording refunds at `payments` first.
    pub(crate) fn with_payments(mut self, payments: PaymentsClient) -> Store {
        self.payments = Some(payments);
        self
    }

    /// The payments API refunds are recorded at.
    pub(crate) fn payments(&self) -> Option<&PaymentsClient> {
        self.payments.as_ref()
    }

    /// Holds the refund lock of `invoice` of `tenant` until the guard drops; the lock is
    /// forgotten once nobody holds or waits for it.
    pub(crate) async fn refunding(&self, tenant: &str, invoice: &str) -> RefundGuard {
        let key = (tenant.to_owned(), invoice.trim().to_ascii_uppercase());
        let lock = self
            .refunding
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = lock.clone().lock_owned().await;
        RefundGuard {
            locks: self.refunding.clone(),
            key,
            lock,
            guard: Some(guard),
        }
    }

    /// The store, publishing resource updates through `updates`.
    pub(crate) fn with_updates(mut self, updates: mcp_auth_runtime::Notifier) -> Store {
        self.updates = Some(updates);
        self
    }

    /// Tells the clients of the caller's tenant subscribed to `uri` that it changed: invoice
    /// ids are numbered per tenant, so the same URI names another invoice in another tenant,
    /// whose subscribers must not hear of this one.
    pub(crate) fn updated(&self, auth: &AuthInfo, uri: &str) {
        if let (Some(updates), Some(tenant)) = (&self.updates, auth.tenant()) {
            updates.resource_updated_in_tenant(uri, tenant);
        }
    }

    /// Runs `op` on the caller's tenant in one transaction, then records the call in the audit
    /// trail, whatever its outcome.
    ///
    /// `invoice` is the invoice the call is about, if the caller named one; the ledger updates
    /// it when it creates one. A caller without a tenant gets an error and touches nothing. A
    /// change is committed only together with its audit entry.
    pub(crate) async fn run<T, F>(
        &self,
        auth: &AuthInfo,
        called: impl Into<Called>,
        invoice: Option<String>,
        op: F,
    ) -> Result<T, ToolError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ledger<'_>) -> Result<T, BillingError> + Send + 'static,
    {
        let called = called.into();
        let caller = Caller::of(auth);
        let requested = invoice.clone();
        let conn = self.conn.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let (result, touched) = match caller.tenant.clone() {
                Some(tenant) => attempt(&mut conn, &caller, &tenant, called, invoice, op),
                None => (Err(BillingError::NoTenant), invoice),
            };
            if let Err(err) = &result {
                let entry = Entry {
                    caller: &caller,
                    called: Some(called),
                    outcome: Outcome::Error,
                    invoice: touched.as_deref(),
                    detail: Some(err.to_string()),
                    request: None,
                };
                audit::record(&conn, &entry);
            }
            result
        });
        match task.await {
            // A resource's missing invoice is the framework's "not found", which answers
            // exactly as a URI no resource serves; a tool or prompt tells which id was wrong
            // (a prompt's failure is JSON-RPC `-32603` with the message).
            Ok(Err(BillingError::NotFound(_))) if called.kind == audit::Kind::Resource => {
                Err(ToolError::NotFound)
            }
            Ok(result) => result.map_err(ToolError::from),
            // A panic in `op`: its transaction rolled back while unwinding; record the failure.
            Err(join) => {
                let detail = format!("internal error: {join}");
                self.record(Refusal {
                    caller: Caller::of(auth),
                    called: Some(called),
                    outcome: Outcome::Error,
                    invoice: requested,
                    detail: Some(detail),
                    request: None,
                })
                .await;
                Err(ToolError::internal(join))
            }
        }
    }

    /// Reads the caller's tenant without an audit entry of its own: for a decision a call
    /// takes before its audited work (the call itself is audited, by [`Store::run`] or, when
    /// it is refused, by the audit sink). Nothing `op` writes is kept.
    pub(crate) async fn peek<T, F>(&self, auth: &AuthInfo, op: F) -> Result<T, ToolError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ledger<'_>) -> Result<T, BillingError> + Send + 'static,
    {
        let caller = Caller::of(auth);
        let conn = self.conn.clone();
        let task = tokio::task::spawn_blocking(move || {
            let tenant = caller.tenant.clone().ok_or(BillingError::NoTenant)?;
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            // Dropped without a commit: rolled back.
            let tx = conn.transaction()?;
            let mut ledger = Ledger {
                conn: &tx,
                tenant: &tenant,
                actor: caller.actor(),
                touched: None,
            };
            op(&mut ledger)
        });
        match task.await {
            Ok(result) => result.map_err(ToolError::from),
            Err(join) => Err(ToolError::internal(join)),
        }
    }

    /// One invoice of the caller's tenant with its refunds: what `lookup_invoice` and the
    /// `invoice://` resource answer.
    pub(crate) async fn detail(
        &self,
        auth: &AuthInfo,
        called: Called,
        id: String,
    ) -> Result<InvoiceDetail, ToolError> {
        self.run(auth, called, Some(id.clone()), move |ledger| {
            ledger.get(&id)
        })
        .await
    }

    /// Records a call that never reached a tool's body, from a synchronous caller (the
    /// audit sink): the entry is written on the blocking pool, without waiting for it.
    pub(crate) fn record_soon(&self, mut refusal: Refusal) {
        let Ok(permit) = self.pending_refusals.clone().try_acquire_owned() else {
            let dropped = 1 + self
                .dropped_refusals
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Logged at 1, 2, 4, 8, ... so that a flood cannot flood the log as well.
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    kind = refusal.called.map(|c| c.kind.as_str()),
                    tool = refusal.called.map(|c| c.name),
                    outcome = refusal.outcome.as_str(),
                    "too many refusals waiting to be audited; this one was not recorded"
                );
            }
            return;
        };
        // The caller chose the id: a refused call cannot make its row (or log line) large.
        refusal.invoice = refusal
            .invoice
            .map(|id| audit::truncated(&id, audit::MAX_RECORDED_ID).into_owned());
        let store = self.clone();
        tokio::spawn(async move {
            store.record(refusal).await;
            drop(permit);
        });
    }

    /// Records a call that never reached a tool's body, e.g. one the server refused for
    /// insufficient scope.
    pub(crate) async fn record(&self, refusal: Refusal) {
        let Refusal {
            caller,
            called,
            outcome,
            invoice,
            detail,
            request,
        } = refusal;
        let conn = self.conn.clone();
        let task = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = Entry {
                caller: &caller,
                called,
                outcome,
                invoice: invoice.as_deref(),
                detail,
                request: request.as_ref(),
            };
            audit::record(&conn, &entry);
        });
        if let Err(err) = task.await {
            tracing::error!(error = %err, "cannot write the audit trail");
        }
    }
}

/// The refund locks of the invoices being refunded, by tenant and invoice id.
type RefundLocks = Arc<Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>>;

/// The refund lock of one invoice, held: see [`Store::refunding`].
pub(crate) struct RefundGuard {
    locks: RefundLocks,
    key: (String, String),
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for RefundGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's copy and ours: nobody else holds or waits for it.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.key);
        }
    }
}

/// Runs `op` in a transaction and, if it succeeds, commits it with its audit entry. Returns
/// the result and the invoice touched.
fn attempt<T>(
    conn: &mut Connection,
    caller: &Caller,
    tenant: &str,
    called: Called,
    invoice: Option<String>,
    op: impl FnOnce(&mut Ledger<'_>) -> Result<T, BillingError>,
) -> (Result<T, BillingError>, Option<String>) {
    // Every call writes (its audit row, at least), so the transaction takes the write lock
    // at once. A deferred one would read first and then fail to upgrade, without waiting for
    // the busy timeout, whenever another process (another replica on the same file) wrote
    // in between: WAL mode refuses that upgrade as stale ("database is locked").
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(err) => return (Err(err.into()), invoice),
    };
    let mut ledger = Ledger {
        conn: &tx,
        tenant,
        actor: caller.actor(),
        touched: invoice,
    };
    let result = op(&mut ledger);
    let touched = ledger.touched;
    let result = result.and_then(|value| {
        let entry = Entry {
            caller,
            called: Some(called),
            outcome: Outcome::Ok,
            invoice: touched.as_deref(),
            detail: None,
            request: None,
        };
        let at = audit::insert(&tx, &entry)?;
        tx.commit()?;
        audit::emit(&entry, &at);
        Ok(value)
    });
    // On error `tx` was dropped unused, which rolls the transaction back.
    (result, touched)
}

fn open(path: &str) -> anyhow::Result<Connection> {
    let mut conn = open_sqlite(path, "the database")?;
    conn.pragma_update(None, "synchronous", "normal")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    migrate(&mut conn).with_context(|| format!("cannot set up the database {path}"))?;
    Ok(conn)
}

/// Opens the SQLite file at `path` (`:memory:` for a private in-memory one), creating its
/// directory owner-only; WAL mode, so that readers (an operator's `sqlite3`, the tests) look
/// while the server writes, and a 5 s busy timeout for the other processes sharing the file.
/// `what` names the database in errors.
pub(crate) fn open_sqlite(path: &str, what: &str) -> anyhow::Result<Connection> {
    let conn = if path == ":memory:" {
        Connection::open_in_memory()?
    } else {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            crate::create_private_dir(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("cannot open {what} {path}"))?;
        conn.pragma_update_and_check(None, "journal_mode", "wal", |_| Ok(()))?;
        conn
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Brings the schema to [`SCHEMA_VERSION`], and seeds a new database.
fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    anyhow::ensure!(
        version <= SCHEMA_VERSION,
        "the database has schema version {version}, newer than this binary's {SCHEMA_VERSION}: \
         use a newer binary or another --db"
    );
    tx.execute_batch(SCHEMA)?;
    if version == 0 {
        seed(&tx)?;
        tracing::info!("created the billing database with demo data");
    }
    const _: () = assert!(UPGRADES.len() as i32 == SCHEMA_VERSION - 1);
    for upgrade in &UPGRADES[(version.max(1) - 1) as usize..] {
        tx.execute_batch(upgrade)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

/// Two tenants and a dozen invoices, written once, when the database is created.
fn seed(conn: &Connection) -> rusqlite::Result<()> {
    #[rustfmt::skip]
    const INVOICES: &[(&str, i64, &str, i64, &str)] = &[
        ("acme",   2041, "Wayne Enterprises", 125_000, "open"),
        ("acme",   2042, "Initech",            48_000, "paid"),
        ("acme",   2043, "Umbrella Corp",      99_900, "paid"),
        ("acme",   2044, "Hooli",              15_000, "open"),
        ("acme",   2045, "Stark Industries",  310_000, "paid"),
        ("acme",   2046, "Cyberdyne Systems",   7_250, "void"),
        ("acme",   2047, "Soylent",            22_000, "open"),
        ("globex", 3101, "Tyrell Corp",        64_000, "open"),
        ("globex", 3102, "Wonka Industries",   12_500, "paid"),
        ("globex", 3103, "Massive Dynamic",    87_000, "open"),
        ("globex", 3104, "Oscorp",             45_000, "paid"),
        ("globex", 3105, "Acme Corp",           9_900, "open"),
    ];
    let mut insert = conn.prepare(
        "INSERT OR IGNORE INTO invoices
             (tenant, number, customer, total_cents, status, created_at, created_by,
              voided_at, voided_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'seed',
                 CASE ?5 WHEN 'void' THEN ?6 END, CASE ?5 WHEN 'void' THEN 'seed' END)",
    )?;
    for (day, (tenant, number, customer, total, status)) in (1..).zip(INVOICES) {
        let created = format!("2026-03-{day:02}T09:30:00Z");
        insert.execute(params![tenant, number, customer, total, status, created])?;
    }
    Ok(())
}

/// Why a billing operation failed. The message is what the model reads.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BillingError {
    /// No such invoice *in the caller's tenant*: another tenant's invoice is "not found" too,
    /// so that ids of other tenants are never confirmed.
    #[error("invoice {0} not found")]
    NotFound(String),
    /// The token has no tenant claim.
    #[error(
        "the access token names no tenant, so it can reach no invoices: use a token with a `tenant` claim"
    )]
    NoTenant,
    /// The arguments are well-formed but not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The invoice is not in a state that allows the operation.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("internal error: {0}")]
    Database(#[from] rusqlite::Error),
}

impl From<BillingError> for ToolError {
    fn from(err: BillingError) -> Self {
        match err {
            BillingError::Database(cause) => ToolError::internal(cause),
            // Not `ToolError::InvalidArguments`: the framework reports that one as a call
            // refused before the tool ran, which the audit sink records (see `audit`).
            other => ToolError::new(other.to_string()),
        }
    }
}

/// The lifecycle of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Issued, not paid yet.
    Open,
    /// Paid; may be refunded.
    Paid,
    /// Cancelled before payment.
    Void,
    /// Paid, then refunded in full.
    Refunded,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Paid => "paid",
            Status::Void => "void",
            Status::Refunded => "refunded",
        }
    }

    fn parse(s: &str) -> rusqlite::Result<Status> {
        Ok(match s {
            "open" => Status::Open,
            "paid" => Status::Paid,
            "void" => Status::Void,
            "refunded" => Status::Refunded,
            other => {
                return Err(rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    format!("unknown invoice status `{other}`").into(),
                ));
            }
        })
    }
}

/// One invoice.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct Invoice {
    /// The invoice id, e.g. INV-2041.
    pub(crate) id: String,
    /// The customer billed.
    pub(crate) customer: String,
    /// The amount billed, in cents.
    pub(crate) total_cents: i64,
    /// The amount refunded so far, in cents.
    pub(crate) refunded_cents: i64,
    /// Where the invoice is in its lifecycle.
    pub(crate) status: Status,
    /// When the invoice was created (RFC 3339).
    pub(crate) created_at: String,
    /// Who created the invoice.
    pub(crate) created_by: String,
    /// When the invoice was voided, if it is void.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) voided_at: Option<String>,
    /// Who voided the invoice, if it is void.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) voided_by: Option<String>,
}

const INVOICE_COLUMNS: &str = "number, customer, total_cents, refunded_cents, status, \
                               created_at, created_by, voided_at, voided_by";

impl Invoice {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Invoice> {
        Ok(Invoice {
            id: invoice_id(row.get(0)?),
            customer: row.get(1)?,
            total_cents: row.get(2)?,
            refunded_cents: row.get(3)?,
            status: Status::parse(&row.get::<_, String>(4)?)?,
            created_at: row.get(5)?,
            created_by: row.get(6)?,
            voided_at: row.get(7)?,
            voided_by: row.get(8)?,
        })
    }
}

/// One refund of a paid invoice.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct Refund {
    /// The refund id, e.g. RF-1: numbered per tenant, so that it reveals nothing about
    /// other tenants.
    pub(crate) id: String,
    /// The amount refunded, in cents.
    pub(crate) amount_cents: i64,
    /// Why the money was returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// When the refund was made (RFC 3339).
    pub(crate) refunded_at: String,
    /// Who made the refund.
    pub(crate) refunded_by: String,
    /// The refund's id at the payments API, e.g. PAY-7.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payment_id: Option<String>,
}

/// An invoice with its refunds.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct InvoiceDetail {
    /// The invoice.
    #[serde(flatten)]
    pub(crate) invoice: Invoice,
    /// Its refunds, oldest first.
    pub(crate) refunds: Vec<Refund>,
}

/// A page of invoices, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct InvoicePage {
    /// The invoices of this page.
    pub(crate) invoices: Vec<Invoice>,
    /// Pass it as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
}

/// What [`Ledger::void`] did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct VoidOutcome {
    /// The invoice, as it is now.
    pub(crate) invoice: Invoice,
    /// Whether this call voided it: `false` when it was void already.
    pub(crate) changed: bool,
    /// What happened, in words.
    pub(crate) message: String,
}

/// What [`Ledger::refund`] did.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RefundOutcome {
    /// The refund just recorded.
    pub(crate) refund: Refund,
    /// The invoice, as it is now.
    pub(crate) invoice: Invoice,
}

/// A tenant's invoices at a glance: [`Ledger::summary`].
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Summary {
    /// The tenant summarized: the caller's.
    pub(crate) tenant: String,
    /// How many invoices the tenant has.
    pub(crate) invoices: i64,
    /// What they bill in all, in cents.
    pub(crate) total_cents: i64,
    /// What was refunded in all, in cents.
    pub(crate) refunded_cents: i64,
    /// The same, per status, in the order open, paid, void, refunded; a status without
    /// invoices is listed with zeros.
    pub(crate) by_status: Vec<StatusTotals>,
}

/// The invoices of one status in a [`Summary`].
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct StatusTotals {
    /// The status.
    pub(crate) status: Status,
    /// How many invoices have it.
    pub(crate) invoices: i64,
    /// What they bill, in cents.
    pub(crate) total_cents: i64,
    /// What was refunded on them, in cents.
    pub(crate) refunded_cents: i64,
}

/// Which invoices [`Ledger::list`] returns.
#[derive(Debug, Default)]
pub(crate) struct ListFilter {
    pub(crate) status: Option<Status>,
    pub(crate) customer: Option<String>,
    pub(crate) limit: u32,
    pub(crate) cursor: Option<String>,
}

/// One tenant's invoices, inside the transaction of one tool call.
pub(crate) struct Ledger<'a> {
    conn: &'a Connection,
    tenant: &'a str,
    actor: &'a str,
    /// The invoice the call is about, for the audit trail.
    touched: Option<String>,
}

impl Ledger<'_> {
    /// One invoice with its refunds.
    pub(crate) fn get(&mut self, id: &str) -> Result<InvoiceDetail, BillingError> {
        let invoice = self.invoice(id)?;
        let number = parse_invoice_id(id).expect("an invoice was found by this id");
        let mut refunds = self.conn.prepare_cached(
            "SELECT number, amount_cents, reason, refunded_at, refunded_by, payment_id
             FROM refunds WHERE tenant = ?1 AND invoice_number = ?2 ORDER BY number",
        )?;
        let refunds = refunds
            .query_map(params![self.tenant, number], |row| {
                Ok(Refund {
                    id: format!("RF-{}", row.get::<_, i64>(0)?),
                    amount_cents: row.get(1)?,
                    reason: row.get(2)?,
                    refunded_at: row.get(3)?,
                    refunded_by: row.get(4)?,
                    payment_id: row.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(InvoiceDetail { invoice, refunds })
    }

    /// A page of invoices, newest first. The cursor is the last id of the previous page,
    /// encoded: an opaque string to the caller.
    /// Counts and totals of the tenant's invoices, per status and in all.
    pub(crate) fn summary(&mut self) -> Result<Summary, BillingError> {
        let mut by_status: Vec<StatusTotals> =
            [Status::Open, Status::Paid, Status::Void, Status::Refunded]
                .into_iter()
                .map(|status| StatusTotals {
                    status,
                    invoices: 0,
                    total_cents: 0,
                    refunded_cents: 0,
                })
                .collect();
        let mut query = self.conn.prepare_cached(
            "SELECT status, count(*), sum(total_cents), sum(refunded_cents) FROM invoices
             WHERE tenant = ?1 GROUP BY status",
        )?;
        let mut rows = query.query(params![self.tenant])?;
        while let Some(row) = rows.next()? {
            let status = Status::parse(&row.get::<_, String>(0)?)?;
            let totals = by_status
                .iter_mut()
                .find(|t| t.status == status)
                .expect("every status has a row");
            // A group has at least one row, so its sums are integers, never NULL.
            totals.invoices = row.get(1)?;
            totals.total_cents = row.get(2)?;
            totals.refunded_cents = row.get(3)?;
        }
        Ok(Summary {
            tenant: self.tenant.to_owned(),
            invoices: by_status.iter().map(|t| t.invoices).sum(),
            total_cents: by_status.iter().map(|t| t.total_cents).sum(),
            refunded_cents: by_status.iter().map(|t| t.refunded_cents).sum(),
            by_status,
        })
    }

    pub(crate) fn list(&mut self, filter: &ListFilter) -> Result<InvoicePage, BillingError> {
        if !(1..=MAX_PAGE).contains(&filter.limit) {
            return Err(BillingError::Invalid(format!(
                "limit must be between 1 and {MAX_PAGE}, got {}",
                filter.limit
            )));
        }
        let before = match &filter.cursor {
            Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
                BillingError::Invalid(
                    "invalid cursor: pass the `next_cursor` of a previous page, unchanged".into(),
                )
            })?),
            None => None,
        };
        let mut query = self.conn.prepare_cached(&format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices
             WHERE tenant = ?1
               AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR instr(lower(customer), lower(?3)) > 0)
               AND (?4 IS NULL OR number < ?4)
             ORDER BY number DESC
             LIMIT ?5"
        ))?;
        let mut invoices: Vec<Invoice> = query
            .query_map(
                params![
                    self.tenant,
                    filter.status.map(Status::as_str),
                    filter.customer,
                    before,
                    filter.limit + 1,
                ],
                Invoice::from_row,
            )?
            .collect::<Result<_, _>>()?;
        let next_cursor = if invoices.len() > filter.limit as usize {
            invoices.truncate(filter.limit as usize);
            invoices
                .last()
                .and_then(|last| parse_invoice_id(&last.id))
                .map(encode_cursor)
        } else {
            None
        };
        Ok(InvoicePage {
            invoices,
            next_cursor,
        })
    }

    /// A new open invoice, numbered after the tenant's last one.
    pub(crate) fn create(
        &mut self,
        customer: &str,
        amount_cents: i64,
    ) -> Result<Invoice, BillingError> {
        let customer = customer.trim();
        if customer.is_empty() || customer.chars().count() > 200 {
            return Err(BillingError::Invalid(
                "customer must be a name of 1 to 200 characters".into(),
            ));
        }
        if amount_cents <= 0 {
            return Err(BillingError::Invalid(format!(
                "amount_cents must be greater than 0, got {amount_cents}"
            )));
        }
        let number: i64 = self.conn.query_row(
            &format!(
                "INSERT INTO invoices
                     (tenant, number, customer, total_cents, status, created_at, created_by)
                 VALUES (?1, (SELECT coalesce(max(number), 1000) + 1 FROM invoices
                              WHERE tenant = ?1),
                         ?2, ?3, 'open', {NOW}, ?4)
                 RETURNING number"
            ),
            params![self.tenant, customer, amount_cents, self.actor],
            |row| row.get(0),
        )?;
        let id = invoice_id(number);
        self.touched = Some(id.clone());
        self.invoice(&id)
    }

    /// Voids an open invoice, recording who did it. Voiding a void invoice changes nothing;
    /// a paid invoice cannot be voided (it is refunded instead).
    pub(crate) fn void(&mut self, id: &str) -> Result<VoidOutcome, BillingError> {
        let invoice = self.invoice(id)?;
        match invoice.status {
            Status::Void => Ok(VoidOutcome {
                message: format!(
                    "{} was already void (voided by {} at {}); nothing changed",
                    invoice.id,
                    invoice.voided_by.as_deref().unwrap_or("unknown"),
                    invoice.voided_at.as_deref().unwrap_or("an unknown time"),
                ),
                invoice,
                changed: false,
            }),
            Status::Open => {
                self.conn.execute(
                    &format!(
                        "UPDATE invoices SET status = 'void', voided_at = {NOW}, voided_by = ?3
                         WHERE tenant = ?1 AND number = ?2"
                    ),
                    params![self.tenant, parse_invoice_id(id), self.actor],
                )?;
                let invoice = self.invoice(id)?;
                Ok(VoidOutcome {
                    message: format!("{} is now void", invoice.id),
                    invoice,
                    changed: true,
                })
            }
            Status::Paid | Status::Refunded => Err(BillingError::Conflict(format!(
                "{} is {}: a paid invoice cannot be voided, refund it instead",
                invoice.id,
                invoice.status.as_str()
            ))),
        }
    }

    /// Refunds a paid invoice, in full by default or by `amount_cents`, up to what remains.
    /// The ids of the tenant's invoices that start with `prefix` (any case), newest first:
    /// at most `limit` of them, and how many match in all.
    pub(crate) fn ids_starting_with(
        &mut self,
        prefix: &str,
        limit: usize,
    ) -> Result<(Vec<String>, u64), BillingError> {
        // No id is longer than `INV-` and 19 digits. A longer prefix matches none, and sent
        // to SQLite it fails the whole completion once its pattern passes `LIKE`'s limit
        // (50,000 bytes): an internal error, logged, for what was merely typed.
        if prefix.chars().count() > MAX_ID_LEN {
            return Ok((Vec::new(), 0));
        }
        // `LIKE` is case-insensitive for ASCII; the prefix's own `%`, `_` and `\` are literal.
        let escaped: String = prefix
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let pattern = format!("{escaped}%");
        let mut query = self.conn.prepare_cached(
            "SELECT number FROM invoices
             WHERE tenant = ?1 AND ('INV-' || number) LIKE ?2 ESCAPE '\\'
             ORDER BY number DESC",
        )?;
        let mut ids = Vec::new();
        let mut total = 0u64;
        let mut rows = query.query(params![self.tenant, pattern])?;
        while let Some(row) = rows.next()? {
            total += 1;
            if ids.len() < limit {
                ids.push(invoice_id(row.get(0)?));
            }
        }
        Ok((ids, total))
    }

    /// What paid invoice `id` has had refunded, and what remains to refund. An invoice that
    /// is not paid has nothing to refund: the same error as [`Ledger::refund`].
    pub(crate) fn refund_state(&mut self, id: &str) -> Result<(i64, i64), BillingError> {
        let invoice = self.invoice(id)?;
        refundable(&invoice)?;
        Ok((
            invoice.refunded_cents,
            invoice.total_cents - invoice.refunded_cents,
        ))
    }

    ///
    /// `unapproved_limit`: when the caller may not approve refunds, the most that the refunds
    /// of one invoice may total; checked here, in the refund's transaction, so that refunds
    /// racing each other cannot pass it together. `payment_id`: the refund's id at the
    /// payments API, which made it first.
    pub(crate) fn refund(
        &mut self,
        id: &str,
        amount_cents: Option<i64>,
        reason: Option<&str>,
        unapproved_limit: Option<i64>,
        payment_id: Option<&str>,
    ) -> Result<RefundOutcome, BillingError> {
        let (_, amount) = self.check_refund(id, amount_cents, unapproved_limit)?;
        let number = parse_invoice_id(id);
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let refund = self.conn.query_row(
            &format!(
                "INSERT INTO refunds
                     (tenant, number, invoice_number, amount_cents, reason, refunded_at,
                      refunded_by, payment_id)
                 VALUES (?1, (SELECT coalesce(max(number), 0) + 1 FROM refunds
                              WHERE tenant = ?1),
                         ?2, ?3, ?4, {NOW}, ?5, ?6)
                 RETURNING number, refunded_at"
            ),
            params![self.tenant, number, amount, reason, self.actor, payment_id],
            |row| {
                Ok(Refund {
                    id: format!("RF-{}", row.get::<_, i64>(0)?),
                    amount_cents: amount,
                    reason: reason.map(str::to_owned),
                    refunded_at: row.get(1)?,
                    refunded_by: self.actor.to_owned(),
                    payment_id: payment_id.map(str::to_owned),
                })
            },
        )?;
        self.conn.execute(
            "UPDATE invoices
             SET refunded_cents = refunded_cents + ?3,
                 status = CASE WHEN refunded_cents + ?3 = total_cents THEN 'refunded'
                               ELSE status END
             WHERE tenant = ?1 AND number = ?2",
            params![self.tenant, number, amount],
        )?;
        Ok(RefundOutcome {
            refund,
            invoice: self.invoice(id)?,
        })
    }

    /// The checks of [`Ledger::refund`], without refunding: the invoice, and the amount a
    /// refund of `amount_cents` (the rest when `None`) would refund.
    pub(crate) fn check_refund(
        &mut self,
        id: &str,
        amount_cents: Option<i64>,
        unapproved_limit: Option<i64>,
    ) -> Result<(Invoice, i64), BillingError> {
        let invoice = self.invoice(id)?;
        refundable(&invoice)?;
        let refundable = invoice.total_cents - invoice.refunded_cents;
        let amount = amount_cents.unwrap_or(refundable);
        if amount <= 0 || amount > refundable {
            return Err(BillingError::Invalid(format!(
                "amount_cents must be between 1 and {refundable} (the total of {} less what was \
                 refunded already), got {amount}",
                invoice.id
            )));
        }
        if let Some(limit) = unapproved_limit
            && invoice.refunded_cents + amount > limit
        {
            return Err(BillingError::Conflict(format!(
                "the refunds of {} would total {} cents, above {limit}: that needs the \
                 payments:approve scope; nothing was refunded",
                invoice.id,
                invoice.refunded_cents + amount
            )));
        }
        Ok((invoice, amount))
    }

    /// The invoice `id` of this ledger's tenant.
    fn invoice(&self, id: &str) -> Result<Invoice, BillingError> {
        let not_found = || BillingError::NotFound(id.to_owned());
        let number = parse_invoice_id(id).ok_or_else(not_found)?;
        self.conn
            .prepare_cached(&format!(
                "SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant = ?1 AND number = ?2"
            ))?
            .query_row(params![self.tenant, number], Invoice::from_row)
            .optional()?
            .ok_or_else(not_found)
    }
}

/// Refuses to refund an invoice that is not paid.
fn refundable(invoice: &Invoice) -> Result<(), BillingError> {
    if invoice.status != Status::Paid {
        return Err(BillingError::Conflict(format!(
            "{} is {}: only paid invoices can be refunded",
            invoice.id,
            invoice.status.as_str()
        )));
    }
    Ok(())
}

/// The longest invoice id: `INV-` and the 19 digits of `i64::MAX`.
const MAX_ID_LEN: usize = 4 + 19;

fn invoice_id(number: i64) -> String {
    format!("INV-{number}")
}

/// The number of `INV-2041` (any case); `None` for anything else.
fn parse_invoice_id(id: &str) -> Option<i64> {
    let digits = id.trim().get(4..).filter(|_| {
        id.trim()
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("INV-"))
    })?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

/// The cursor after invoice `number`: opaque to callers, so that its form can change.
fn encode_cursor(number: i64) -> String {
    format!("c1.{number:x}")
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    let hex = cursor.strip_prefix("c1.")?;
    if hex.is_empty() || hex.len() > 15 {
        return None;
    }
    i64::from_str_radix(hex, 16).ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_ids_parse_strictly() {
        assert_eq!(parse_invoice_id("INV-2041"), Some(2041));
        assert_eq!(parse_invoice_id(" inv-7 "), Some(7));
        for bad in [
            "", "INV-", "INV-+1", "INV--1", "INV-0", "2041", "INV-1e3", "INV-٣",
        ] {
            assert_eq!(parse_invoice_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(2047)), Some(2047));
        for bad in ["", "c1.", "c1.-5", "c2.7ff", "c1.zz", "2047"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn version_1_databases_are_upgraded_keeping_their_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        seed(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO refunds (tenant, invoice_number, amount_cents, refunded_at, refunded_by)
             VALUES ('acme', 2042, 1, 't', 'a'), ('globex', 3102, 1, 't', 'b'),
                    ('acme', 2043, 1, 't', 'a');
             INSERT INTO audit (at, tool, outcome) VALUES ('t', 'void_invoice', 'ok');
             INSERT INTO audit (at, tool, outcome)
                 VALUES ('t', 'void_invoice', 'insufficient_scope');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let numbers: Vec<(String, i64)> = conn
            .prepare("SELECT tenant, number FROM refunds ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let numbers: Vec<(&str, i64)> = numbers.iter().map(|(t, n)| (t.as_str(), *n)).collect();
        assert_eq!(numbers, [("acme", 1), ("globex", 1), ("acme", 2)]);
        // Version 3 named the kind, version 5 the method and a refusal's reason.
        type Row = (Option<String>, Option<String>, String, Option<String>);
        let rows: Vec<Row> = conn
            .prepare("SELECT kind, method, outcome, reason FROM audit ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let s = |text: &str| Some(text.to_owned());
        assert_eq!(
            rows,
            [
                (s("tool"), s("tools/call"), "ok".into(), None),
                (
                    s("tool"),
                    s("tools/call"),
                    "insufficient_scope".into(),
                    s("insufficient_scope")
                ),
            ]
        );
        // A refusal before the body: no kind, no tool.
        conn.execute(
            "INSERT INTO audit (at, outcome, reason) VALUES ('t', 'refused', 'missing_token')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO audit (at, kind, tool, outcome) VALUES ('t', 'resource', 'invoice', 'ok')",
            [],
        )
        .unwrap();
        for (kind, outcome) in [("file", "ok"), ("tool", "fine")] {
            assert!(
                conn.execute(
                    "INSERT INTO audit (at, kind, tool, outcome) VALUES ('t', ?1, 'x', ?2)",
                    [kind, outcome],
                )
                .is_err(),
                "an unknown kind or outcome is refused: {kind} {outcome}"
            );
        }
        let indexed: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'audit_by_tenant'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 1);
    }

    #[test]
    fn a_new_database_is_seeded_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let count = |tenant: &str| -> i64 {
            conn.query_row(
                "SELECT count(*) FROM invoices WHERE tenant = ?1",
                [tenant],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!((count("acme"), count("globex")), (7, 5));
    }
}
