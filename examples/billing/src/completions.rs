//! Completions of invoice ids, for the `payment_reminder` prompt and the `invoice://` template:
//! a completion can leak data, so it runs under the scopes of what it completes (the framework
//! checks them) and suggests only the caller's tenant's invoices.

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{Completion, CompletionRequest, completion::MAX_VALUES};

use crate::store::Store;

/// The ids of your tenant's invoices that start with what was typed (any case), newest
/// first; at most 100, with how many match in all.
pub(crate) async fn invoice_ids(
    ctx: ToolContext<Store>,
    request: CompletionRequest,
) -> Result<Completion, ToolError> {
    let prefix = request.value().to_owned();
    let (values, total) = ctx
        .state()
        .peek(ctx.auth(), move |ledger| {
            ledger.ids_starting_with(&prefix, MAX_VALUES)
        })
        .await?;
    let has_more = (values.len() as u64) < total;
    Ok(Completion {
        values,
        total: Some(total),
        has_more,
    })
}
