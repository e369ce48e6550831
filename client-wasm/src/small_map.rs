//! A map kept as a list, for the engine's few-entry maps (open models by relay handle, requests
//! awaiting an answer, authors of a batch of operations): a linear search over a handful of
//! entries is as fast as hashing, and each hash-map type would add kilobytes to the module.

/// A map of a few entries, in insertion order.
#[derive(Debug)]
pub struct SmallMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

impl<K: PartialEq, V> SmallMap<K, V> {
    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: K, value: V) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Takes `key` out.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(at).1)
    }

    /// Empties the map.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::SmallMap;

    #[test]
    fn inserts_replace_and_removes_take_out() {
        let mut map = SmallMap::default();
        map.insert(1, "a");
        map.insert(2, "b");
        map.insert(1, "c");
        assert_eq!(map.get(&1), Some(&"c"));
        assert_eq!(map.remove(&2), Some("b"));
        assert_eq!(map.get(&2), None);
        map.clear();
        assert_eq!(map.get(&1), None);
    }
}
