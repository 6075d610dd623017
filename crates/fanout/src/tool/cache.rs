//! Result caching for tools with a `cache_ttl`: an identical call (same tool, same
//! arguments) made within the time-to-live reuses the earlier result instead of running.
//!
//! The cache is async, so a Redis- or database-backed [`ToolCache`] never blocks the runtime;
//! the built-in [`MemoryCache`] is bounded (least recently used entries go first).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::time::Instant;

/// Identifies a call for caching: the tool and its arguments as canonical JSON (object keys
/// sorted at every level, whatever serde_json's `preserve_order` feature says).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The tool's name.
    pub tool: String,
    /// The arguments as canonical JSON.
    pub arguments: String,
}

impl CacheKey {
    /// The key of a call of `tool` with parsed `arguments`.
    ///
    /// ```
    /// use fanout::tool::CacheKey;
    /// use serde_json::json;
    ///
    /// let a = CacheKey::new("search", &json!({"q": "rust", "page": {"n": 1, "size": 10}}));
    /// let b = CacheKey::new("search", &json!({"page": {"size": 10, "n": 1}, "q": "rust"}));
    /// assert_eq!(a, b);
    /// assert_eq!(a.arguments, r#"{"page":{"n":1,"size":10},"q":"rust"}"#);
    /// ```
    pub fn new(tool: &str, arguments: &Value) -> Self {
        let mut canonical = String::new();
        write_canonical(arguments, &mut canonical);
        Self { tool: tool.to_owned(), arguments: canonical }
    }
}

/// JSON with object keys in sorted order at every level.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Where cached results live. The default is [`MemoryCache`]; implement this to share a cache
/// between processes (Redis, a database …). Both methods are async: they run inside the call's
/// own task, never blocking the runtime or the other calls.
///
/// ```
/// use std::time::Duration;
/// use futures::future::BoxFuture;
/// use fanout::tool::{CacheKey, ToolCache};
///
/// /// A cache that never keeps anything (a real one would talk to Redis here).
/// #[derive(Debug)]
/// struct NoCache;
///
/// impl ToolCache for NoCache {
///     fn get<'a>(&'a self, _key: &'a CacheKey) -> BoxFuture<'a, Option<String>> {
///         Box::pin(async { None })
///     }
///     fn put(&self, _key: CacheKey, _result: String, _ttl: Duration) -> BoxFuture<'_, ()> {
///         Box::pin(async {})
///     }
/// }
/// ```
pub trait ToolCache: Send + Sync + fmt::Debug {
    /// The cached result for `key`, if one is still fresh.
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<String>>;
    /// Remember `result` for `key` during `ttl`.
    fn put(&self, key: CacheKey, result: String, ttl: Duration) -> BoxFuture<'_, ()>;
}

/// An in-process cache holding at most a fixed number of results (1,024 by default); when
/// full, the least recently used entry goes. Expired entries are dropped when met.
#[derive(Debug)]
pub struct MemoryCache {
    capacity: usize,
    state: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<CacheKey, Slot>,
    /// Keys by last use, oldest first.
    order: BTreeMap<u64, CacheKey>,
    clock: u64,
}

#[derive(Debug)]
struct Slot {
    result: String,
    expires: Instant,
    used: u64,
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

impl MemoryCache {
    /// A cache of at most `capacity` results (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), state: Mutex::default() }
    }

    /// How many results it holds now.
    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.entries.len()).unwrap_or(0)
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(&self, key: &CacheKey) -> Option<String> {
        let mut state = self.state.lock().ok()?;
        let Lru { entries, order, clock } = &mut *state;
        let slot = entries.get_mut(key)?;
        if slot.expires <= Instant::now() {
            order.remove(&slot.used);
            entries.remove(key);
            return None;
        }
        *clock += 1;
        order.remove(&slot.used);
        slot.used = *clock;
        order.insert(*clock, key.clone());
        Some(slot.result.clone())
    }

    fn store(&self, key: CacheKey, result: String, ttl: Duration) {
        let Ok(mut state) = self.state.lock() else { return };
        let Lru { entries, order, clock } = &mut *state;
        *clock += 1;
        if let Some(old) = entries.remove(&key) {
            order.remove(&old.used);
        }
        while entries.len() >= self.capacity {
            let Some((_, oldest)) = order.pop_first() else { break };
            entries.remove(&oldest);
        }
        order.insert(*clock, key.clone());
        entries.insert(key, Slot { result, expires: Instant::now() + ttl, used: *clock });
    }
}

impl ToolCache for MemoryCache {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<String>> {
        let hit = self.lookup(key);
        Box::pin(std::future::ready(hit))
    }

    fn put(&self, key: CacheKey, result: String, ttl: Duration) -> BoxFuture<'_, ()> {
        self.store(key, result, ttl);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(n: u32) -> CacheKey {
        CacheKey::new("t", &json!({ "n": n }))
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_least_recently_used_first() {
        let cache = MemoryCache::with_capacity(2);
        let ttl = Duration::from_secs(60);
        cache.put(key(1), "one".into(), ttl).await;
        cache.put(key(2), "two".into(), ttl).await;
        assert_eq!(cache.get(&key(1)).await.as_deref(), Some("one")); // 1 is now the most recent
        cache.put(key(3), "three".into(), ttl).await;
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key(2)).await, None, "the least recently used went");
        assert_eq!(cache.get(&key(1)).await.as_deref(), Some("one"));
        assert_eq!(cache.get(&key(3)).await.as_deref(), Some("three"));
        cache.put(key(3), "THREE".into(), ttl).await;
        assert_eq!(cache.len(), 2, "replacing does not grow it");
        assert_eq!(cache.get(&key(3)).await.as_deref(), Some("THREE"));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_dropped() {
        let cache = MemoryCache::default();
        cache.put(key(1), "one".into(), Duration::from_secs(5)).await;
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(cache.get(&key(1)).await.is_some());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(cache.get(&key(1)).await.is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn canonical_keys() {
        let nested = json!({"b": [{"y": 1, "x": 2}], "a": "é\"", "c": null});
        assert_eq!(CacheKey::new("t", &nested).arguments, r#"{"a":"é\"","b":[{"x":2,"y":1}],"c":null}"#);
    }
}
