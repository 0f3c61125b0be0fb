//! The prompts of one server: by name, with their list entries serialized once.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::PromptDef;
use crate::server::BuildError;

/// The prompts of one server, checked when it is built.
#[derive(Debug, Default)]
pub(crate) struct Prompts {
    defs: Vec<PromptDef>,
    by_name: HashMap<&'static str, usize>,
    entries: Vec<Box<RawValue>>,
    scopes: Vec<&'static str>,
}

impl Prompts {
    /// Refuses two prompts of one name: `prompts/get` names one, under one set of scopes.
    pub(crate) fn new(defs: Vec<PromptDef>) -> Result<Self, BuildError> {
        let mut by_name = HashMap::with_capacity(defs.len());
        for (index, def) in defs.iter().enumerate() {
            if by_name.insert(def.name(), index).is_some() {
                return Err(BuildError::DuplicatePrompt(def.name()));
            }
        }
        let entries = defs
            .iter()
            .map(|def| {
                serde_json::value::to_raw_value(&def.to_json())
                    .expect("prompt descriptors serialize")
            })
            .collect();
        let scopes = crate::scope::union(
            defs.iter()
                .flat_map(|d| d.scopes().iter().chain(d.conditional_scopes()).copied()),
        );
        Ok(Prompts {
            defs,
            by_name,
            entries,
            scopes,
        })
    }

    /// The prompt called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&PromptDef> {
        self.by_name.get(name).map(|&index| &self.defs[index])
    }

    /// Every prompt with its list entry, in registration order.
    pub(crate) fn listed(&self) -> impl Iterator<Item = (&PromptDef, &RawValue)> {
        self.defs.iter().zip(self.entries.iter().map(|e| &**e))
    }

    /// Every prompt.
    pub(crate) fn defs(&self) -> &[PromptDef] {
        &self.defs
    }

    /// The union of every prompt's scopes, conditional ones included, sorted.
    pub(crate) fn scopes(&self) -> &[&'static str] {
        &self.scopes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}
