//! What every server under test serves: the same invoices, looked up by tenant and id.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One invoice, as every server returns it in `structuredContent` (and as text).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Invoice {
    /// The invoice id, e.g. INV-2041.
    pub id: String,
    /// The customer billed.
    pub customer: String,
    /// The total, in cents.
    pub amount_cents: u64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// `open`, `paid` or `void`.
    pub status: String,
}

/// Invoices by (tenant, id).
pub struct Store {
    invoices: std::sync::RwLock<HashMap<(String, String), Invoice>>,
}

impl Store {
    /// A few invoices of tenant `acme`.
    pub fn seeded() -> Store {
        let mut invoices = HashMap::new();
        for (id, customer, amount_cents, status) in [
            ("INV-2041", "Initech", 125_000, "open"),
            ("INV-2042", "Globex", 9_900, "paid"),
            ("INV-2043", "Umbrella", 40_250, "open"),
        ] {
            invoices.insert(
                ("acme".to_owned(), id.to_owned()),
                Invoice {
                    id: id.into(),
                    customer: customer.into(),
                    amount_cents,
                    currency: "EUR".into(),
                    status: status.into(),
                },
            );
        }
        Store {
            invoices: std::sync::RwLock::new(invoices),
        }
    }

    /// The invoice `id` of `tenant`.
    pub fn get(&self, tenant: &str, id: &str) -> Option<Invoice> {
        let invoices = self.invoices.read().unwrap();
        invoices.get(&(tenant.to_owned(), id.to_owned())).cloned()
    }

    /// Marks the invoice `id` of `tenant` void.
    pub fn void(&self, tenant: &str, id: &str) -> Option<Invoice> {
        let mut invoices = self.invoices.write().unwrap();
        let invoice = invoices.get_mut(&(tenant.to_owned(), id.to_owned()))?;
        invoice.status = "void".into();
        Some(invoice.clone())
    }
}
