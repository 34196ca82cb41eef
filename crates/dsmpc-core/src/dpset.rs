//! Sets of data providers named by their positions in a task's signed DP list.
//!
//! A CP's verification report, the cloud's input set and the edge's result each say which DPs
//! are in: as lists of ids they cost about 24 bytes a DP in every copy and on the wire (10 MB a
//! message at 10^6 DPs). The task's header commits to the list, ids ascending, by its Merkle
//! root, so a position names a DP as surely as its id does: a [`DpSet`] is one bit a DP of the
//! list, `len` bits in all, and whoever needs names reads them from the list it fetched.

use crate::codec::{CodecError, Decode, Encode, Reader, Writer};

/// A subset of a DP list of `len` entries, one bit a position.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct DpSet {
    len: u64,
    words: Vec<u64>,
}

impl std::fmt::Debug for DpSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DpSet({} of {})", self.count(), self.len)
    }
}

impl DpSet {
    /// The empty subset of a list of `len` DPs.
    pub fn empty(len: u64) -> DpSet {
        let words = usize::try_from(len.div_ceil(64)).unwrap_or(usize::MAX);
        DpSet {
            len,
            words: vec![0; words],
        }
    }

    /// Every DP of a list of `len`.
    pub fn full(len: u64) -> DpSet {
        let mut set = DpSet::empty(len);
        set.words.iter_mut().for_each(|w| *w = u64::MAX);
        set.clear_padding();
        set
    }

    /// The subset holding `positions` (each below `len`; others are ignored).
    pub fn from_positions(len: u64, positions: impl IntoIterator<Item = u64>) -> DpSet {
        let mut set = DpSet::empty(len);
        for i in positions {
            set.insert(i);
        }
        set
    }

    /// The length of the list this is a subset of.
    pub fn list_len(&self) -> u64 {
        self.len
    }

    /// How many DPs are in the set.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Whether no DP is in the set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Whether position `i` is in the set (never for `i` past the list).
    pub fn contains(&self, i: u64) -> bool {
        let Ok(word) = usize::try_from(i / 64) else {
            return false;
        };
        self.words.get(word).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// Puts position `i` in the set; returns whether it was new. A position past the list is
    /// not put in (returns `false`).
    pub fn insert(&mut self, i: u64) -> bool {
        !self.set(i, true) && i < self.len
    }

    /// Takes position `i` out of the set; returns whether it was in.
    pub fn remove(&mut self, i: u64) -> bool {
        self.set(i, false)
    }

    /// Puts `i` in the set (`member`) or takes it out; returns whether it was in. Positions past
    /// the list are never members.
    pub fn set(&mut self, i: u64, member: bool) -> bool {
        if i >= self.len {
            return false;
        }
        let (word, bit) = (&mut self.words[(i / 64) as usize], 1u64 << (i % 64));
        let was = *word & bit != 0;
        if member {
            *word |= bit;
        } else {
            *word &= !bit;
        }
        was
    }

    /// The positions in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        positions(&self.words, false, self.len)
    }

    /// The positions in the set after its first `n`, ascending: whole words are skipped by
    /// their count, so paging through a large set costs no more than reading it once.
    pub fn iter_skipping(&self, n: u64) -> impl Iterator<Item = u64> + '_ {
        let mut left = n;
        let mut first = self.words.len();
        for (k, w) in self.words.iter().enumerate() {
            let ones = u64::from(w.count_ones());
            if ones > left {
                first = k;
                break;
            }
            left -= ones;
        }
        positions(
            &self.words[first..],
            false,
            self.len.saturating_sub(first as u64 * 64),
        )
        .map(move |i| i + first as u64 * 64)
        .skip(left as usize)
    }

    /// The positions of the list not in the set, ascending.
    pub fn iter_missing(&self) -> impl Iterator<Item = u64> + '_ {
        positions(&self.words, true, self.len)
    }

    /// The positions in this set and not in `other` (a subset of a list of the same length).
    pub fn difference<'a>(&'a self, other: &'a DpSet) -> impl Iterator<Item = u64> + 'a {
        self.iter().filter(move |&i| !other.contains(i))
    }

    fn clear_padding(&mut self) {
        let tail = self.len % 64;
        if let (Some(last), true) = (self.words.last_mut(), tail != 0) {
            *last &= (1u64 << tail) - 1;
        }
    }
}

/// The positions below `len` whose bit in `words` is set (or, with `invert`, clear).
fn positions(words: &[u64], invert: bool, len: u64) -> impl Iterator<Item = u64> + '_ {
    words.iter().enumerate().flat_map(move |(k, &w)| {
        let mut w = if invert { !w } else { w };
        let base = k as u64 * 64;
        std::iter::from_fn(move || {
            if w == 0 {
                return None;
            }
            let b = u64::from(w.trailing_zeros());
            w &= w - 1;
            Some(base + b)
        })
        .take_while(move |&i| i < len)
    })
}

impl Encode for DpSet {
    /// `u64 len ‖ ⌈len/8⌉ bytes`, position `i` in bit `i mod 8` of byte `i / 8`; padding bits 0.
    fn encode(&self, w: &mut Writer) {
        w.u64(self.len);
        let bytes = self.len.div_ceil(8) as usize;
        let mut out = Vec::with_capacity(bytes);
        for word in &self.words {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.truncate(bytes);
        w.fixed(&out);
    }
}

impl Decode for DpSet {
    /// Refuses a length the message cannot hold and set padding bits (one set, one encoding).
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let len = r.u64("DP set length")?;
        let bytes = usize::try_from(len.div_ceil(8))
            .ok()
            .filter(|&b| b <= r.remaining())
            .ok_or(CodecError::InvalidValue {
                what: "DP set length",
            })?;
        let raw = r.take(bytes, "DP set")?;
        let mut set = DpSet::empty(len);
        for (word, chunk) in set.words.iter_mut().zip(raw.chunks(8)) {
            let mut le = [0u8; 8];
            le[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_le_bytes(le);
        }
        let canonical = set.clone();
        set.clear_padding();
        if set != canonical {
            return Err(CodecError::InvalidValue {
                what: "DP set padding",
            });
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use proptest::prelude::*;

    fn roundtrip(set: &DpSet) -> DpSet {
        let mut w = Writer::new();
        set.encode(&mut w);
        decode_exact(&w.into_bytes()).unwrap()
    }

    proptest! {
        /// A set encodes to ⌈len/8⌉ bytes after its length and decodes to itself; its members and
        /// non-members partition the list.
        #[test]
        fn sets_roundtrip_and_partition(len in 0u64..300, picks in proptest::collection::vec(0u64..320, 0..64)) {
            let set = DpSet::from_positions(len, picks.iter().copied());
            let expected: std::collections::BTreeSet<u64> = picks.into_iter().filter(|&i| i < len).collect();
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), expected.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(set.count(), expected.len() as u64);
            for n in [0, 1, 3, 64, 65, 200] {
                let skipped: Vec<u64> = set.iter_skipping(n).collect();
                prop_assert_eq!(skipped, set.iter().skip(n as usize).collect::<Vec<_>>());
            }
            let missing: Vec<u64> = set.iter_missing().collect();
            prop_assert_eq!(missing.len() as u64 + set.count(), len);
            prop_assert!(missing.iter().all(|i| !expected.contains(i)));
            let back = roundtrip(&set);
            prop_assert_eq!(&back, &set);
            let mut w = Writer::new();
            set.encode(&mut w);
            prop_assert_eq!(w.into_bytes().len() as u64, 8 + len.div_ceil(8));
        }
    }

    proptest! {
        /// The bit set answers as a set of positions does, whatever the order of changes.
        #[test]
        fn positions_behave_as_a_set(changes in proptest::collection::vec((0u64..300, any::<bool>()), 0..200)) {
            let (mut bits, mut set) = (DpSet::empty(300), std::collections::BTreeSet::new());
            for (i, member) in changes {
                let was = if member { !set.insert(i) } else { set.remove(&i) };
                prop_assert_eq!(bits.set(i, member), was);
            }
            prop_assert_eq!(bits.iter().collect::<Vec<_>>(), set.iter().copied().collect::<Vec<_>>());
            for i in 0..320 {
                prop_assert_eq!(bits.contains(i), set.contains(&i));
            }
        }
    }

    #[test]
    fn full_holds_every_position_once() {
        let set = DpSet::full(70);
        assert_eq!(set.count(), 70);
        assert!(set.iter_missing().next().is_none());
        assert!(!set.contains(70));
        assert_eq!(roundtrip(&set), set);
    }

    #[test]
    fn positions_past_the_list_are_never_members() {
        let mut set = DpSet::empty(3);
        assert!(!set.insert(3));
        assert!(set.insert(2));
        assert!(!set.insert(2), "not new the second time");
        assert!(!set.contains(3) && !set.contains(u64::MAX));
        assert!(set.remove(2));
        assert!(set.is_empty());
    }

    #[test]
    fn set_padding_bits_are_refused() {
        // len 3, byte 0b1000_0001: bit 7 is past the list.
        let mut w = Writer::new();
        w.u64(3);
        w.fixed(&[0b1000_0001]);
        let err = decode_exact::<DpSet>(&w.into_bytes()).unwrap_err();
        assert!(err.to_string().contains("DP set padding"), "{err}");
    }

    #[test]
    fn a_length_the_message_cannot_hold_is_refused_before_allocating() {
        let mut w = Writer::new();
        w.u64(u64::MAX);
        w.fixed(&[0xff; 4]);
        let err = decode_exact::<DpSet>(&w.into_bytes()).unwrap_err();
        assert!(err.to_string().contains("DP set length"), "{err}");
    }

    #[test]
    fn a_truncated_set_is_refused() {
        let mut w = Writer::new();
        w.u64(20);
        w.fixed(&[1, 2]);
        assert!(decode_exact::<DpSet>(&w.into_bytes()).is_err());
    }
}
