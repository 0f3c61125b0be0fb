//! The tool registry: O(1) lookup by name, and the `tools/list` result serialized once.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::ToolDef;

/// The tools of one server, validated when it is built.
#[derive(Debug)]
pub(crate) struct Registry {
    tools: Vec<ToolDef>,
    by_name: HashMap<&'static str, usize>,
    /// Each tool's `tools/list` entry, for lists filtered per caller.
    entries: Vec<Box<RawValue>>,
    scopes: Vec<&'static str>,
}

impl Registry {
    /// The tools, already checked by the server's builder (unique names, object schemas,
    /// the server's state type), listed for a server that authenticates callers unless
    /// `anonymous`.
    pub(crate) fn new(tools: Vec<ToolDef>, anonymous: bool) -> Self {
        let by_name = tools
            .iter()
            .enumerate()
            .map(|(index, tool)| (tool.name(), index))
            .collect();
        let entries: Vec<Box<RawValue>> = tools
            .iter()
            .map(|tool| {
                serde_json::value::to_raw_value(&tool.to_json(anonymous))
                    .expect("tool descriptors serialize")
            })
            .collect();
        let scopes = crate::scope::union(
            tools
                .iter()
                .flat_map(|t| t.scopes().iter().chain(t.conditional_scopes()).copied()),
        );
        Registry {
            tools,
            by_name,
            entries,
            scopes,
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&ToolDef> {
        self.by_name.get(name).map(|&index| &self.tools[index])
    }

    /// Each tool's serialized `tools/list` entry, in registration order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &RawValue> {
        self.entries.iter().map(|e| &**e)
    }

    /// The union of every tool's scopes, conditional ones included, sorted.
    pub(crate) fn scopes(&self) -> &[&'static str] {
        &self.scopes
    }

    pub(crate) fn tools(&self) -> &[ToolDef] {
        &self.tools
    }
}
