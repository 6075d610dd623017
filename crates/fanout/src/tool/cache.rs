//! Result caching for tools marked `cache_results`: an identical call (same tool, same
//! arguments) made within the time-to-live reuses the earlier result instead of running.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

/// Identifies a call for caching: the tool and its arguments in canonical JSON (keys sorted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The tool's name.
    pub tool: String,
    /// The arguments as canonical JSON.
    pub arguments: String,
}

impl CacheKey {
    /// The key of a call of `tool` with parsed `arguments`.
    pub fn new(tool: &str, arguments: &Value) -> Self {
        // serde_json's map keeps keys sorted, so equal arguments print equally.
        Self { tool: tool.to_owned(), arguments: arguments.to_string() }
    }
}

/// Where cached results live. The default is [`MemoryCache`]; implement this to share a cache
/// between processes (Redis, a file …).
pub trait ToolCache: Send + Sync + fmt::Debug {
    /// The cached result for `key`, if one is still fresh.
    fn get(&self, key: &CacheKey) -> Option<String>;
    /// Remember `result` for `key` during `ttl`.
    fn put(&self, key: CacheKey, result: String, ttl: Duration);
}

/// An in-process cache; expired entries are dropped when met.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<CacheKey, (String, Instant)>>,
}

impl ToolCache for MemoryCache {
    fn get(&self, key: &CacheKey) -> Option<String> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((result, expires)) if *expires > Instant::now() => Some(result.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: CacheKey, result: String, ttl: Duration) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, (result, Instant::now() + ttl));
        }
    }
}
