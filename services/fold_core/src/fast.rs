//! The core's maps hash with foldhash (hashbrown's own default, seeded at random per map) rather than std's
//! SipHash: hashing ids and window names was ~10% of a batch call (perf, 2026-12-07). Insertion order, and
//! so every output, is the same with either hasher.

pub type IndexMap<K, V> = indexmap::IndexMap<K, V, foldhash::fast::RandomState>;
pub type IndexSet<K> = indexmap::IndexSet<K, foldhash::fast::RandomState>;
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
