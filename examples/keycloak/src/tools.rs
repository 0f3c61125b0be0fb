//! The tools: notes kept per tenant, in memory. `notes:read` lists them and `notes:write` adds
//! one; the tenant comes from the caller's token, never from the arguments.

use std::collections::HashMap;
use std::sync::Mutex;

use mcp_auth_runtime::prelude::*;
use schemars::JsonSchema;
use serde::Serialize;

/// The notes of every tenant.
#[derive(Debug, Default)]
pub struct Notebook {
    notes: Mutex<HashMap<String, Vec<Note>>>,
}

/// A note.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Note {
    /// Its number within the tenant, from 1.
    pub id: u64,
    /// What it says.
    pub text: String,
    /// The `preferred_username` (else the `sub`) of the user who wrote it.
    pub author: String,
}

/// The notes of a tenant, oldest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Notes {
    /// The notes.
    pub notes: Vec<Note>,
}

/// The caller's tenant. A token without one is refused rather than given a shared notebook.
fn tenant(ctx: &ToolContext<Notebook>) -> Result<String, ToolError> {
    ctx.auth().tenant().map(str::to_owned).ok_or_else(|| {
        ToolError::new(
            "your token names no tenant: ask an administrator to set your `tenant` attribute",
        )
    })
}

/// List the notes of your tenant, oldest first.
#[tool(scope = "notes:read", read_only, idempotent)]
pub(crate) async fn list_notes(ctx: ToolContext<Notebook>) -> Result<Notes, ToolError> {
    let tenant = tenant(&ctx)?;
    let notes = ctx.state().notes.lock().expect("no panic while locked");
    Ok(Notes {
        notes: notes.get(&tenant).cloned().unwrap_or_default(),
    })
}

/// Add a note to your tenant's notes.
#[tool(scope = "notes:write", destructive = false, idempotent = false)]
pub(crate) async fn add_note(
    ctx: ToolContext<Notebook>,
    /// What the note says.
    text: String,
) -> Result<Note, ToolError> {
    let tenant = tenant(&ctx)?;
    let auth = ctx.auth();
    let author = (auth.claims().get("preferred_username"))
        .and_then(|name| name.as_str())
        .or(auth.subject())
        .unwrap_or_default()
        .to_owned();
    let mut notes = ctx.state().notes.lock().expect("no panic while locked");
    let notes = notes.entry(tenant).or_default();
    let note = Note {
        id: notes.len() as u64 + 1,
        text,
        author,
    };
    notes.push(note.clone());
    Ok(note)
}
