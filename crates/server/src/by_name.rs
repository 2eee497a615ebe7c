//! The map the server keeps per topic name on its hot paths (the log's topics, their metrics
//! counters and their history), with one hasher chosen once.

use std::collections::HashMap;

/// A map keyed by a name, hashed with foldhash seeded per process: names are the clients'
/// (auto-created topics), so the seed keeps collisions from being planned, and it is several
/// times cheaper than std's SipHash on short keys. Every produce looks its topic up in three
/// of these (issue 19: SipHash was ~2% of a single-message produce's instructions).
pub(crate) type ByName<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
