//! FNV-1a, the hasher of the SDK's lookup tables: names and user agents
//! are short texts looked up on every event, which the standard hasher
//! (SipHash, built to resist chosen keys) hashes several times slower. A
//! collision here costs a comparison, never a wrong answer.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
}

pub type FnvBuild = BuildHasherDefault<Fnv>;
pub type FnvHashMap<K, V> = HashMap<K, V, FnvBuild>;
pub type FnvHashSet<T> = HashSet<T, FnvBuild>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_a_working_table() {
        // FNV-1a's published 64-bit test values.
        let hash = |s: &str| {
            let mut h = Fnv::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        let set: FnvHashSet<&str> = ["system:kube-scheduler", "alice"].into_iter().collect();
        assert!(set.contains("alice") && !set.contains("bob"));
    }
}
