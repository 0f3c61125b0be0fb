//! Tests only; see `ui.rs` and `tool_macro.rs`.
