//! The core's hash maps and sets: hashbrown's tables (the crate indexmap already brings) with
//! rustc-hash's fast hasher. One hash-table implementation instead of that and the standard
//! library's own copy keeps the WebAssembly module smaller.

/// A hash map keyed by ids, references and the like (never by untrusted input that could be
/// chosen to collide: the hasher is fast, not keyed).
pub type FastMap<K, V> = hashbrown::HashMap<K, V, rustc_hash::FxBuildHasher>;

/// A hash set, as [`FastMap`].
pub type FastSet<T> = hashbrown::HashSet<T, rustc_hash::FxBuildHasher>;
