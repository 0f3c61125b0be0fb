//! The resources of one server: which one serves a URI, and the list entries serialized once.
//!
//! A URI is served by at most one resource, so that exactly one set of scopes guards it: a
//! fixed URI is looked up first, then the templates; the builder refuses two resources with
//! the same URI, two identical or overlapping templates, and a fixed URI that a template also
//! matches.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::template::{TemplateError, is_resource_uri};
use super::{ReadRequest, ResourceDef, ResourceUri, UriTemplate};
use crate::server::BuildError;

/// The resources of one server, checked when it is built.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    defs: Vec<ResourceDef>,
    fixed: HashMap<&'static str, usize>,
    templates: Vec<(usize, UriTemplate)>,
    /// Each resource's list entry, by index in `defs`.
    entries: Vec<Box<RawValue>>,
    scopes: Vec<&'static str>,
}

impl Resources {
    /// Checks every URI and template, and that no URI is served twice.
    pub(crate) fn new(defs: Vec<ResourceDef>) -> Result<Self, BuildError> {
        let mut fixed = HashMap::new();
        let mut templates: Vec<(usize, UriTemplate)> = Vec::new();
        for (index, def) in defs.iter().enumerate() {
            match def.uri() {
                ResourceUri::Fixed(uri) => {
                    if !is_resource_uri(uri) {
                        return Err(invalid(def, uri, "not an absolute URI".into()));
                    }
                    if fixed.insert(uri, index).is_some() {
                        return Err(BuildError::DuplicateResource(uri.to_owned()));
                    }
                }
                ResourceUri::Template(text) => {
                    let template = UriTemplate::parse(text)
                        .map_err(|err: TemplateError| invalid(def, text, err.to_string()))?;
                    if let Some((other, _)) = templates.iter().find(|(_, t)| t.overlaps(&template))
                    {
                        return Err(overlap(&defs[*other], def));
                    }
                    templates.push((index, template));
                }
            }
        }
        for (&uri, &index) in &fixed {
            if let Some((other, _)) = templates.iter().find(|(_, t)| t.match_uri(uri).is_some()) {
                return Err(overlap(&defs[*other], &defs[index]));
            }
        }
        let entries = defs
            .iter()
            .map(|def| {
                serde_json::value::to_raw_value(&def.to_json())
                    .expect("resource descriptors serialize")
            })
            .collect();
        let scopes = crate::scope::union(
            defs.iter()
                .flat_map(|d| d.scopes().iter().chain(d.conditional_scopes()).copied()),
        );
        Ok(Resources {
            defs,
            fixed,
            templates,
            entries,
            scopes,
        })
    }

    /// The resource serving `uri`, and the read it makes of it.
    pub(crate) fn resolve(&self, uri: &str) -> Option<(&ResourceDef, ReadRequest)> {
        if let Some(&index) = self.fixed.get(uri) {
            return Some((&self.defs[index], ReadRequest::new(uri, Vec::new())));
        }
        self.templates.iter().find_map(|(index, template)| {
            let variables = template.match_uri(uri)?;
            Some((&self.defs[*index], ReadRequest::new(uri, variables)))
        })
    }

    /// The fixed resources (`templates == false`) or the templates, with their list entries,
    /// in registration order.
    pub(crate) fn listed(
        &self,
        templates: bool,
    ) -> impl Iterator<Item = (&ResourceDef, &RawValue)> {
        self.defs
            .iter()
            .zip(self.entries.iter().map(|e| &**e))
            .filter(move |(def, _)| matches!(def.uri(), ResourceUri::Template(_)) == templates)
    }

    /// Every resource.
    pub(crate) fn defs(&self) -> &[ResourceDef] {
        &self.defs
    }

    /// The union of every resource's scopes, conditional ones included, sorted.
    pub(crate) fn scopes(&self) -> &[&'static str] {
        &self.scopes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

fn invalid(def: &ResourceDef, uri: &str, reason: String) -> BuildError {
    BuildError::InvalidResourceUri {
        resource: def.name(),
        uri: uri.to_owned(),
        reason,
    }
}

fn overlap(first: &ResourceDef, second: &ResourceDef) -> BuildError {
    let text = |def: &ResourceDef| match def.uri() {
        ResourceUri::Fixed(uri) | ResourceUri::Template(uri) => uri,
    };
    BuildError::OverlappingResources {
        first: text(first),
        second: text(second),
    }
}
