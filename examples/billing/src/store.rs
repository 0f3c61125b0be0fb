//! An in-memory invoice store, partitioned by tenant.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use schemars::JsonSchema;
use serde::Serialize;

/// The lifecycle of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Open,
    Paid,
    Void,
}

/// One invoice.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct Invoice {
    /// The invoice id, e.g. INV-2041.
    pub(crate) id: String,
    /// The customer billed.
    pub(crate) customer: String,
    /// The total, in cents.
    pub(crate) total_cents: u64,
    /// The status.
    pub(crate) status: Status,
    /// Who voided the invoice, if it is void.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) voided_by: Option<String>,
}

/// Invoices by tenant, then by id. Every method takes the tenant: no query can cross tenants.
#[derive(Clone, Default)]
pub(crate) struct Store {
    tenants: Arc<Mutex<BTreeMap<String, BTreeMap<String, Invoice>>>>,
}

impl Store {
    /// A store with two tenants and a few invoices each.
    pub(crate) fn seeded() -> Self {
        let store = Store::default();
        {
            let mut tenants = store.tenants.lock().unwrap();
            for (tenant, customers) in [
                ("acme", ["Globex", "Initech", "Umbrella"]),
                ("globex", ["Acme", "Hooli", "Stark"]),
            ] {
                let invoices = tenants.entry(tenant.to_owned()).or_default();
                for (i, customer) in customers.iter().enumerate() {
                    let n = if tenant == "acme" { 2041 } else { 3041 } + i;
                    let id = format!("INV-{n}");
                    invoices.insert(
                        id.clone(),
                        Invoice {
                            id,
                            customer: (*customer).to_owned(),
                            total_cents: 10_000 * (i as u64 + 1),
                            status: if i == 2 { Status::Paid } else { Status::Open },
                            voided_by: None,
                        },
                    );
                }
            }
        }
        store
    }

    pub(crate) fn get(&self, tenant: &str, id: &str) -> Option<Invoice> {
        let tenants = self.tenants.lock().unwrap();
        tenants.get(tenant)?.get(id).cloned()
    }

    pub(crate) fn list(&self, tenant: &str, status: Option<Status>) -> Vec<Invoice> {
        let tenants = self.tenants.lock().unwrap();
        tenants
            .get(tenant)
            .into_iter()
            .flat_map(|invoices| invoices.values())
            .filter(|invoice| status.is_none_or(|s| invoice.status == s))
            .cloned()
            .collect()
    }

    /// Voids an invoice; voiding a void invoice changes nothing (the tool is idempotent).
    pub(crate) fn void(&self, tenant: &str, id: &str, actor: &str) -> Option<Invoice> {
        let mut tenants = self.tenants.lock().unwrap();
        let invoice = tenants.get_mut(tenant)?.get_mut(id)?;
        if invoice.status != Status::Void {
            invoice.status = Status::Void;
            invoice.voided_by = Some(actor.to_owned());
        }
        Some(invoice.clone())
    }
}
