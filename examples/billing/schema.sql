-- The billing schema, version 1 (`PRAGMA user_version`).
--
-- Every statement is idempotent: it runs on each start, and a new version adds statements
-- and a step in `store.rs` rather than editing these.

-- One row per invoice. Ids are per tenant (`INV-<number>`), so that an id reveals nothing
-- about other tenants.
CREATE TABLE IF NOT EXISTS invoices (
    tenant          TEXT    NOT NULL,
    number          INTEGER NOT NULL CHECK (number > 0),
    customer        TEXT    NOT NULL CHECK (length(customer) > 0),
    total_cents     INTEGER NOT NULL CHECK (total_cents > 0),
    refunded_cents  INTEGER NOT NULL DEFAULT 0
                    CHECK (refunded_cents >= 0 AND refunded_cents <= total_cents),
    status          TEXT    NOT NULL CHECK (status IN ('open', 'paid', 'void', 'refunded')),
    created_at      TEXT    NOT NULL,
    created_by      TEXT    NOT NULL,
    voided_at       TEXT,
    voided_by       TEXT,
    PRIMARY KEY (tenant, number)
) WITHOUT ROWID;

-- Money returned on a paid invoice; an invoice may be refunded in several parts.
CREATE TABLE IF NOT EXISTS refunds (
    id              INTEGER PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    invoice_number  INTEGER NOT NULL,
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    reason          TEXT,
    refunded_at     TEXT    NOT NULL,
    refunded_by     TEXT    NOT NULL,
    FOREIGN KEY (tenant, invoice_number) REFERENCES invoices (tenant, number)
);
CREATE INDEX IF NOT EXISTS refunds_by_invoice ON refunds (tenant, invoice_number);

-- Every tool call, successful or not. Never holds a token.
CREATE TABLE IF NOT EXISTS audit (
    id              INTEGER PRIMARY KEY,
    at              TEXT    NOT NULL,  -- RFC 3339, UTC
    subject         TEXT,              -- the actor: the token's `sub`
    client_id       TEXT,
    tenant          TEXT,              -- NULL when the token named none
    tool            TEXT    NOT NULL,
    outcome         TEXT    NOT NULL
                    CHECK (outcome IN ('ok', 'error', 'insufficient_scope', 'invalid_arguments')),
    invoice_id      TEXT,              -- the invoice touched or asked for, e.g. INV-2041
    detail          TEXT               -- why a call failed
);
CREATE INDEX IF NOT EXISTS audit_by_tenant ON audit (tenant, id);
