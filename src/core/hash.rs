//! A fast hasher for the core's integer keys (packed membership keys,
//! interface indices, flows). SipHash, the std default, costs more than the
//! rest of a table probe for one `u64`; a seeded folded multiply mixes every
//! input bit into both the high bits (hashbrown's tag) and the low bits (its
//! bucket index). The seed is drawn per table from std's `RandomState`, so
//! the layout is not predictable from outside.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

/// `HashMap` with [`IntHash`].
pub(crate) type IntMap<K, V> = HashMap<K, V, IntHash>;
/// `HashSet` with [`IntHash`].
pub(crate) type IntSet<K> = HashSet<K, IntHash>;

/// Builds [`IntHasher`]s sharing one random seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IntHash {
    seed: u64,
}

impl Default for IntHash {
    fn default() -> Self {
        IntHash {
            seed: RandomState::new().hash_one(0x6d67_6d64_u64),
        }
    }
}

impl BuildHasher for IntHash {
    type Hasher = IntHasher;

    fn build_hasher(&self) -> IntHasher {
        IntHasher(self.seed)
    }
}

/// Folded-multiply hasher, made for a few integer writes per key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IntHasher(u64);

/// 2^64 / golden ratio, odd.
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl IntHasher {
    fn mix(&mut self, n: u64) {
        self.0 = fold(self.0 ^ n);
    }
}

/// Multiplies by [`MUL`] and folds the 128-bit product into 64 bits.
fn fold(x: u64) -> u64 {
    let m = u128::from(x) * u128::from(MUL);
    (m as u64) ^ ((m >> 64) as u64)
}

impl Hasher for IntHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(buf));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64);
        self.mix((n >> 64) as u64);
    }

    /// One more round: a single fold leaves the low bits of keys that
    /// differ only in their high bits (packed (*,G) keys) poorly spread.
    fn finish(&self) -> u64 {
        fold(self.0)
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differing_in_high_bits_spread_over_low_bits() {
        // Packed (*,G) keys have 34 zero low bits; the bucket index (low
        // bits of the hash) must still vary.
        let h = IntHash::default();
        let buckets: HashSet<u64> = (0..1024u64).map(|g| h.hash_one(g << 34) & 1023).collect();
        // 1,024 random draws from 1,024 buckets give about 647.
        assert!(buckets.len() > 580, "{} distinct buckets", buckets.len());
        let tags: HashSet<u64> = (0..1024u64).map(|g| h.hash_one(g << 34) >> 57).collect();
        assert!(tags.len() > 100, "{} distinct tags", tags.len());
    }

    #[test]
    fn maps_work_with_it() {
        let mut m: IntMap<u64, u32> = IntMap::default();
        for k in 0..10_000u64 {
            m.insert(k << 34, k as u32);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.get(&(77 << 34)), Some(&77));
        assert_eq!(m.get(&1), None);
    }
}
