//! A small map of answers that expire, bounded in size: what the SubjectAccessReview decisions
//! ([`crate::authz`]) and the TokenReview verdicts ([`crate::auth::token`]) are remembered in,
//! so one request per credential and TTL reaches the Kubernetes API, not one per request.
//!
//! When full, the least recently used entry makes room (an `lru::LruCache`): a burst of
//! distinct keys evicts what is idle first, never what every request is using, and never
//! costs unbounded memory.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// Answers keyed by `K`, each valid until its own deadline, at most `capacity` of them.
#[derive(Debug)]
pub struct ExpiringCache<K: Eq + Hash, V> {
    entries: Mutex<LruCache<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> ExpiringCache<K, V> {
    /// An empty cache holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        ExpiringCache {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The answer stored for `key`, unless it has expired (an expired one is dropped).
    pub fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((until, value)) if Instant::now() < *until => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` for `ttl`; when full, the least recently used entry goes.
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(key, (Instant::now() + ttl, value));
        }
    }

    /// How many entries are held, expired ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let cache = ExpiringCache::new(3);
        cache.insert("short", 1, Duration::ZERO);
        cache.insert("long", 2, Duration::from_secs(60));
        assert_eq!(cache.get(&"short"), None);
        assert_eq!(cache.get(&"long"), Some(2));
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            cache.insert(key, i, Duration::from_secs(60));
            assert!(cache.len() <= 3, "{}", cache.len());
        }
        assert_eq!(cache.get(&"e"), Some(4));
        assert!(!cache.is_empty());
    }

    #[test]
    fn a_burst_of_new_keys_evicts_the_idle_entries_not_the_one_in_use() {
        let cache = ExpiringCache::new(3);
        cache.insert("in use", 0, Duration::from_secs(60));
        for (i, key) in ["a", "b", "c", "d", "e", "f"].into_iter().enumerate() {
            assert_eq!(cache.get(&"in use"), Some(0), "before {key}");
            cache.insert(key, i, Duration::from_secs(60));
        }
        assert_eq!(cache.get(&"in use"), Some(0));
        assert_eq!((cache.get(&"a"), cache.get(&"f")), (None, Some(5)));
        assert_eq!(cache.len(), 3);
    }
}
