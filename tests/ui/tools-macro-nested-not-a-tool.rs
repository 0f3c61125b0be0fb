use mcp_auth_runtime::prelude::*;

mod notes {
    use mcp_auth_runtime::prelude::*;

    /// Count the notes.
    #[tool(scope = "notes:read")]
    pub async fn count_notes() -> String {
        "12".into()
    }

    pub async fn export_notes() -> String {
        String::new()
    }
}

fn main() {
    let _tools = tools![notes::count_notes, notes::export_notes];
}
