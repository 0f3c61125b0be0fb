use std::collections::{BTreeSet, HashSet, VecDeque};

use mcp_auth_runtime::prelude::*;

/// Count the notes.
#[tool(unscoped)]
async fn count_notes() -> u64 {
    0
}

/// Is there a note?
#[tool(unscoped)]
async fn any_note() -> Result<bool, ToolError> {
    Ok(false)
}

/// The first note.
#[tool(unscoped)]
async fn first_note() -> Option<String> {
    None
}

/// A pair.
#[tool(unscoped)]
async fn pair() -> (String, u32) {
    (String::new(), 0)
}

/// Three numbers.
#[tool(unscoped)]
async fn three() -> [f64; 3] {
    [0.0; 3]
}

/// The tags.
#[tool(unscoped)]
async fn tags() -> HashSet<String> {
    HashSet::new()
}

/// The titles.
#[tool(unscoped)]
async fn titles() -> std::collections::BTreeSet<String> {
    BTreeSet::new()
}

/// The queue.
#[tool(unscoped)]
async fn queue() -> VecDeque<char> {
    VecDeque::new()
}

/// The static tags.
#[tool(unscoped)]
async fn static_tags() -> &'static [&'static str] {
    &[]
}

fn main() {}
