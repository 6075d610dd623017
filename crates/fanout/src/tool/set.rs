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
    /// Only for sets larger than [`INDEX_FROM`]: most agents hold a handful of tools, where a
    /// scan is as fast as hashing and building the map would be most of an agent's cost.
    by_name: HashMap<String, usize>,
    definitions: Arc<[Arc<ToolDefinition>]>,
    /// Some tool runs an agent (see [`ToolOptions`]'s `delegates`).
    delegates: bool,
}

const INDEX_FROM: usize = 16;

impl ToolSet {
    /// Register `tools`; fails when two share a name.
    pub fn new(tools: impl IntoIterator<Item = Arc<dyn Tool>>) -> Result<Self> {
        let tools = tools.into_iter();
        let mut entries = Vec::with_capacity(tools.size_hint().0);
        let mut definitions = Vec::with_capacity(tools.size_hint().0);
        for tool in tools {
            let mut definition = tool.definition();
            let options = tool.options();
            if options.strict || definition.strict {
                // Only strict tools pay for a copy of their definition.
                let strict = Arc::make_mut(&mut definition);
                strict.strict = true;
                strict_schema(&mut strict.parameters);
            }
            entries.push(Entry { tool, options });
            definitions.push(definition);
        }
        let indexed = definitions.len() >= INDEX_FROM;
        let mut by_name = HashMap::with_capacity(if indexed { definitions.len() } else { 0 });
        for (i, definition) in definitions.iter().enumerate() {
            let duplicate = if indexed {
                by_name.insert(definition.name.clone(), i).is_some()
            } else {
                definitions[..i].iter().any(|earlier| earlier.name == definition.name)
            };
            if duplicate {
                return Err(duplicate_error(&definition.name));
            }
        }
        let delegates = entries.iter().any(|e| e.options.delegates);
        Ok(Self { entries, by_name, definitions: definitions.into(), delegates })
    }

    /// The definitions sent to the model, in registration order.
    pub fn definitions(&self) -> &Arc<[Arc<ToolDefinition>]> {
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

    /// True when some tool of the set runs an agent.
    pub(crate) fn delegates(&self) -> bool {
        self.delegates
    }

    pub(crate) fn options_iter(&self) -> impl Iterator<Item = &ToolOptions> {
        self.entries.iter().map(|e| &e.options)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        let index = if self.by_name.is_empty() {
            self.definitions.iter().position(|d| d.name == name)
        } else {
            self.by_name.get(name).copied()
        };
        index.map(|i| &self.entries[i])
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

fn duplicate_error(name: &str) -> Error {
    Error::config(format!("two tools are named `{name}`: tool names must be unique within an agent"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::{FunctionTool, ToolExt};

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Args {
        /// Any text
        text: String,
    }

    fn echo(name: &str) -> Arc<dyn Tool> {
        Arc::new(FunctionTool::new(name, "Echo", |a: Args| async move { Ok(a.text) }))
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn finds_every_tool_below_and_above_the_index_threshold() {
        for n in [1, INDEX_FROM - 1, INDEX_FROM, 3 * INDEX_FROM] {
            let set = ToolSet::new(names(n).iter().map(|name| echo(name))).unwrap();
            assert_eq!(set.len(), n);
            for (i, name) in names(n).iter().enumerate() {
                let entry = set.get(name).unwrap();
                assert_eq!(entry.tool.definition().name, *name);
                assert_eq!(set.definitions()[i].name, *name, "registration order is kept");
            }
            assert!(set.get("missing").is_none());
        }
    }

    #[test]
    fn rejects_a_duplicate_name_in_small_and_large_sets() {
        for n in [2, INDEX_FROM, 3 * INDEX_FROM] {
            let mut tools: Vec<_> = names(n).iter().map(|name| echo(name)).collect();
            tools.push(echo(&format!("t{}", n / 2)));
            let err = ToolSet::new(tools).unwrap_err();
            assert_eq!(err.to_string(), duplicate_error(&format!("t{}", n / 2)).to_string());
        }
    }

    #[test]
    fn definitions_are_shared_and_only_strict_tools_get_a_copy() {
        let plain = echo("plain");
        let set = ToolSet::new([Arc::clone(&plain)]).unwrap();
        assert!(Arc::ptr_eq(&set.definitions()[0], &plain.definition()), "no copy per agent");

        let strict: Arc<dyn Tool> =
            Arc::new(FunctionTool::new("s", "Echo", |a: Args| async move { Ok(a.text) }).strict());
        let set = ToolSet::new([Arc::clone(&strict)]).unwrap();
        let sent = &set.definitions()[0];
        assert!(sent.strict);
        assert_eq!(sent.parameters["additionalProperties"], false);
        assert!(!strict.definition().strict, "the tool's own definition is untouched");
    }
}
