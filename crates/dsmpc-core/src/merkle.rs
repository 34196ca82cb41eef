//! The Merkle tree over a task's data providers and weights: the signed task header carries only
//! its root and leaf count, so a task's header is the same size whatever N, and a data provider
//! checks its own entry with an inclusion proof of ⌈log2 N⌉ hashes.
//!
//! Leaves, in the task's DP order (ids ascending): `SHA-256("dsmpc/v3/dp-leaf" ‖ PartyId ‖
//! weight i128 ‖ verifying key [32])` — the key the cloud's registry holds for the DP, so every
//! party checks the DP's signatures with the one key the signed task names. A level's nodes pair up left to right, `SHA-256("dsmpc/v1/dp-node" ‖ left ‖
//! right)`; a last node without a partner moves up unchanged. The distinct prefixes keep a leaf
//! from passing as a node, and the leaf count (in the signed header) fixes the tree's shape.

use sha2::{Digest, Sha256};

use crate::codec::{Encode, Writer};
use crate::identity::PartyId;

const LEAF: &[u8] = b"dsmpc/v3/dp-leaf";
const NODE: &[u8] = b"dsmpc/v1/dp-node";

/// A 32-byte hash of the tree.
pub type Hash = [u8; 32];

/// A DP's Ed25519 verifying key, compressed, as a leaf commits to it.
pub type Key = [u8; 32];

/// The leaf of DP `dp` with weight mantissa `weight` and verifying key `key`.
pub fn leaf(dp: &PartyId, weight: i128, key: &Key) -> Hash {
    let mut w = Writer::new();
    dp.encode(&mut w);
    w.i128(weight);
    w.fixed(key);
    let mut h = Sha256::new();
    h.update(LEAF);
    h.update(w.into_bytes());
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(NODE);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The next level up from `level`.
fn parents(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => node(left, right),
            [alone] => *alone,
            _ => unreachable!("chunks(2) yields one or two"),
        })
        .collect()
}

/// The root over `leaves` (all-zero for none).
pub fn root(leaves: &[Hash]) -> Hash {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = parents(&level);
    }
    level.first().copied().unwrap_or([0; 32])
}

/// The leaves of `entries` (DP, weight) with their `keys`, in order.
fn leaves(entries: &[(PartyId, i128)], keys: &[Key]) -> Vec<Hash> {
    entries
        .iter()
        .zip(keys)
        .map(|((dp, w), key)| leaf(dp, *w, key))
        .collect()
}

/// The root over `entries` (DP, weight) with their `keys`, in order.
pub fn root_of(entries: &[(PartyId, i128)], keys: &[Key]) -> Hash {
    root(&leaves(entries, keys))
}

/// A whole tree, kept by the party that answers inclusion proofs (the cloud): about 64 bytes a
/// leaf.
#[derive(Debug, Clone)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The tree over `entries` (DP, weight) with their `keys`, in order.
    pub fn new(entries: &[(PartyId, i128)], keys: &[Key]) -> Tree {
        let mut levels = vec![leaves(entries, keys)];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let up = parents(levels.last().map_or(&[][..], Vec::as_slice));
            levels.push(up);
        }
        Tree { levels }
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or([0; 32])
    }

    /// The inclusion proof of leaf `index`: its partners' hashes from the bottom up (levels
    /// where it has none contribute nothing). `None` past the last leaf.
    pub fn proof(&self, index: u64) -> Option<Vec<Hash>> {
        let mut i = usize::try_from(index).ok()?;
        if i >= self.levels.first()?.len() {
            return None;
        }
        let mut path = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(partner) = level.get(i ^ 1) {
                path.push(*partner);
            }
            i /= 2;
        }
        Some(path)
    }
}

/// Whether `leaf` is leaf `index` of the `count`-leaf tree with root `root`, by `path`.
pub fn verify(root: &Hash, count: u64, index: u64, leaf: &Hash, path: &[Hash]) -> bool {
    if index >= count {
        return false;
    }
    let (mut i, mut size, mut hash) = (index, count, *leaf);
    let mut partners = path.iter();
    while size > 1 {
        if (i ^ 1) < size {
            let Some(partner) = partners.next() else {
                return false;
            };
            hash = if i % 2 == 0 {
                node(&hash, partner)
            } else {
                node(partner, &hash)
            };
        }
        i /= 2;
        size = size.div_ceil(2);
    }
    partners.next().is_none() && hash == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entries(n: usize) -> Vec<(PartyId, i128)> {
        (0..n)
            .map(|k| (PartyId::new(&format!("dp{k:06}")).unwrap(), k as i128 - 3))
            .collect()
    }

    fn keys(n: usize) -> Vec<Key> {
        (0..n).map(|k| [k as u8; 32]).collect()
    }

    proptest! {
        /// Every leaf of every tree size proves against the root; the same proof fails for
        /// another leaf, another index, a forged weight, another key, or with a hash cut off.
        #[test]
        fn every_leaf_proves_and_nothing_else_does(n in 1usize..70, pick in 0usize..70) {
            let (e, keys) = (entries(n), keys(n));
            let tree = Tree::new(&e, &keys);
            prop_assert_eq!(tree.root(), root_of(&e, &keys));
            let k = pick % n;
            let path = tree.proof(k as u64).unwrap();
            let mine = leaf(&e[k].0, e[k].1, &keys[k]);
            let count = n as u64;
            prop_assert!(verify(&tree.root(), count, k as u64, &mine, &path));
            let forged = leaf(&e[k].0, e[k].1 + 1, &keys[k]);
            prop_assert!(!verify(&tree.root(), count, k as u64, &forged, &path));
            let swapped = leaf(&e[k].0, e[k].1, &[0xee; 32]);
            prop_assert!(!verify(&tree.root(), count, k as u64, &swapped, &path));
            if n > 1 {
                let other = (k + 1) % n;
                let theirs = leaf(&e[other].0, e[other].1, &keys[other]);
                prop_assert!(!verify(&tree.root(), count, k as u64, &theirs, &path));
                prop_assert!(!verify(&tree.root(), count, other as u64, &mine, &path));
                prop_assert!(!verify(&tree.root(), count, k as u64, &mine, &path[1..]));
            }
            prop_assert!(!verify(&tree.root(), count, count, &mine, &path));
            prop_assert!(tree.proof(count).is_none());
        }
    }

    #[test]
    fn a_single_leaf_is_its_own_root_and_an_empty_tree_is_zero() {
        let (e, keys) = (entries(1), keys(1));
        let tree = Tree::new(&e, &keys);
        assert_eq!(tree.root(), leaf(&e[0].0, e[0].1, &keys[0]));
        assert_eq!(tree.proof(0), Some(Vec::new()));
        assert_eq!(root(&[]), [0; 32]);
    }

    #[test]
    fn proofs_are_logarithmic() {
        let tree = Tree::new(&entries(1000), &keys(1000));
        assert!(tree.proof(999).unwrap().len() <= 10);
        assert_eq!(tree.proof(0).unwrap().len(), 10);
    }
}
