//! The tools of an agent, looked up by name; definitions and options are read once, here.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Tool, ToolDefinition, ToolOptions, strict_schema};
use crate::error::{Error, Result};

/// One registered tool with its definition and options, read once at registration.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) tool: Arc<dyn Tool>,
    pub(crate) options: ToolOptions,
}

/// An immutable set of tools with unique names.
#[derive(Debug, Default)]
pub struct ToolSet {
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    definitions: Arc<[ToolDefinition]>,
}

impl ToolSet {
    /// Register `tools`; fails when two share a name.
    pub fn new(tools: impl IntoIterator<Item = Arc<dyn Tool>>) -> Result<Self> {
        let mut entries = Vec::new();
        let mut by_name = HashMap::new();
        let mut definitions = Vec::new();
        for tool in tools {
            let mut definition = tool.definition();
            let options = tool.options();
            if options.strict {
                definition.strict = true;
            }
            if definition.strict {
                strict_schema(&mut definition.parameters);
            }
            if by_name.insert(definition.name.clone(), entries.len()).is_some() {
                return Err(Error::DuplicateTool(definition.name));
            }
            entries.push(Entry { tool, options });
            definitions.push(definition);
        }
        Ok(Self { entries, by_name, definitions: definitions.into() })
    }

    /// The definitions sent to the model, in registration order.
    pub fn definitions(&self) -> &Arc<[ToolDefinition]> {
        &self.definitions
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no tools.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The options of the tool called `name`.
    pub fn options(&self, name: &str) -> Option<&ToolOptions> {
        self.get(name).map(|e| &e.options)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    pub(crate) fn names(&self) -> String {
        let names: Vec<&str> = self.definitions.iter().map(|d| d.name.as_str()).collect();
        if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
    }

    /// The tools' extra instructions for the system prompt.
    pub(crate) fn instructions(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| e.options.instructions.as_deref())
    }
}
