//! A small map of answers that expire, bounded in size: what the SubjectAccessReview decisions
//! ([`crate::authz`]) and the TokenReview verdicts ([`crate::auth::token`]) are remembered in,
//! so one request per credential and TTL reaches the Kubernetes API, not one per request.
//!
//! When full, expired entries are dropped first, then every entry: a burst of distinct keys
//! costs some extra reviews, never unbounded memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Answers keyed by `K`, each valid until its own deadline, at most `capacity` of them.
#[derive(Debug)]
pub struct ExpiringCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> ExpiringCache<K, V> {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        ExpiringCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The answer stored for `key`, unless it has expired.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(until, _)| Instant::now() < *until)
            .map(|(_, value)| value.clone())
    }

    /// Stores `value` for `ttl`, evicting when full.
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (until, _)| now < *until);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, value));
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
}
