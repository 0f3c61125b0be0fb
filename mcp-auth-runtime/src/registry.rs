//! The tool registry: O(1) lookup by name, and the `tools/list` result serialized once.

use std::collections::HashMap;

use serde_json::value::RawValue;

use crate::BuildError;
use crate::schema::is_object_schema;
use crate::tool::{StateType, ToolDef};

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
    /// Validates the tools against each other and the server's state type.
    pub(crate) fn new(tools: Vec<ToolDef>, state: Option<StateType>) -> Result<Self, BuildError> {
        let mut by_name = HashMap::with_capacity(tools.len());
        for (index, tool) in tools.iter().enumerate() {
            if by_name.insert(tool.name(), index).is_some() {
                return Err(BuildError::DuplicateTool(tool.name()));
            }
            if !is_object_schema(tool.input_schema()) {
                return Err(BuildError::SchemaNotObject {
                    tool: tool.name(),
                    which: "input",
                });
            }
            if tool.output_schema().is_some_and(|s| !is_object_schema(s)) {
                return Err(BuildError::SchemaNotObject {
                    tool: tool.name(),
                    which: "output",
                });
            }
            if let Some(wanted) = tool.state() {
                let matches = state.is_some_and(|given| (given.id)() == (wanted.id)());
                if !matches && (wanted.id)() != std::any::TypeId::of::<()>() {
                    return Err(BuildError::StateMismatch {
                        tool: tool.name(),
                        expected: wanted.name,
                        given: state.map_or("()", |s| s.name),
                    });
                }
            }
        }
        let entries: Vec<Box<RawValue>> = tools
            .iter()
            .map(|tool| {
                serde_json::value::to_raw_value(&tool.to_json())
                    .expect("tool descriptors serialize")
            })
            .collect();
        let mut scopes: Vec<&'static str> = tools
            .iter()
            .flat_map(|t| t.scopes().iter().copied())
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        Ok(Registry {
            tools,
            by_name,
            entries,
            scopes,
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&ToolDef> {
        self.by_name.get(name).map(|&index| &self.tools[index])
    }

    /// Each tool's serialized `tools/list` entry, in registration order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &RawValue> {
        self.entries.iter().map(|e| &**e)
    }

    /// The union of every tool's scopes, sorted.
    pub(crate) fn scopes(&self) -> &[&'static str] {
        &self.scopes
    }

    pub(crate) fn tools(&self) -> &[ToolDef] {
        &self.tools
    }
}
