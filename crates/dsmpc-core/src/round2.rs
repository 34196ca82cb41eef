//! Round 2 — sharing (Algorithm 2): a DP's bundle, its relay to the CPs, and the share payload.
//!
//! The DP signs a [`BundleCore`]: its Pedersen commitments (verifiable mode) and the SHA-256 digest of
//! each CP's sealed share. The bundle carries the core and the n sealed shares; the cloud checks the
//! digests and the signature before it stores and acknowledges the bundle. Each CP later receives
//! only its own sealed share with the signed core ([`ShareDelivery`]), and can check both the DP's
//! signature and that its share is the one the DP signed. The sealed plaintext is a
//! [`SharePayload`]: the share (explicit, or a seed in fast mode) and, in verifiable mode, the
//! blinding share. Share deliveries need no confidential channel: the share is sealed to its CP.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Error;
use crate::codec::{CodecError, Decode, Encode, Reader, Writer, decode_exact};
use crate::crypto::kem::SealedBox;
use crate::field::Field;
use crate::prg::Seed;
use crate::sharing::{SecretVec, ShareValue};
use crate::signed::{Signable, Signed};
use crate::task::TaskId;

/// Purpose label of a share's encryption context.
pub const SHARE_PURPOSE: &str = "share";

/// What a DP signs: commitments and the digest of every sealed share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleCore {
    /// Compressed ristretto255 points `C_0..C_{t-1}` (empty in fast mode).
    pub commitments: Vec<[u8; 32]>,
    /// `digests[i-1]` is [`share_digest`] of the share sealed to CP i.
    pub digests: Vec<[u8; 32]>,
    /// What makes the input checkable against the task's range, empty when the task does not
    /// validate inputs. Verifiable mode: the Bulletproofs+ proof that the input committed by
    /// `C_0` lies in the range ([`crate::crypto::range`]). Fast mode: the joint-randomness parts
    /// `part_1 ‖ … ‖ part_n` (32 bytes each, [`crate::roles::validity_part`]) that bind the
    /// fully linear proof's joint randomness to the input shares ([`crate::crypto::flp`]).
    pub validity: Vec<u8>,
}

impl Encode for BundleCore {
    fn encode(&self, w: &mut Writer) {
        w.list(&self.commitments, |w, c| w.fixed(c));
        w.list(&self.digests, |w, d| w.fixed(d));
        w.bytes(&self.validity);
    }
}

impl Decode for BundleCore {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(BundleCore {
            commitments: r.list("commitments", 32, |r| r.array("commitment"))?,
            digests: r.list("digests", 32, |r| r.array("digest"))?,
            validity: r.bytes("validity")?.to_vec(),
        })
    }
}

impl Signable for BundleCore {
    const LABEL: &'static str = "bundle";
}

/// SHA-256 over a sealed share's encoding, domain-separated.
pub fn share_digest(sealed: &SealedBox) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"dsmpc/v1/share-digest");
    h.update(sealed.to_bytes());
    h.finalize().into()
}

/// DP → cloud: the signed core and one sealed share per CP, in index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The signed commitments and digests.
    pub core: Signed<BundleCore>,
    /// `shares[i-1]` is sealed to CP i.
    pub shares: Vec<SealedBox>,
}

impl Bundle {
    /// The delivery of this bundle's share for CP `index`.
    pub fn delivery(&self, index: u32) -> Option<ShareDelivery> {
        let share = self.shares.get(index.checked_sub(1)? as usize)?.clone();
        Some(ShareDelivery {
            core: self.core.clone(),
            index,
            share,
        })
    }

    /// Checks that there are `n` shares and each matches its signed digest.
    pub fn check_digests(&self, task: &TaskId, n: u32) -> Result<(), Error> {
        let whole = self.shares.len() == n as usize && self.core.body.digests.len() == n as usize;
        if !whole {
            return Err(Error::ProtocolViolation {
                task: *task,
                reason: format!(
                    "bundle from {} has {} shares and {} digests for {n} CPs",
                    self.core.signer,
                    self.shares.len(),
                    self.core.body.digests.len()
                ),
            });
        }
        let digests = self.shares.iter().map(share_digest);
        if let Some(i) = digests
            .zip(&self.core.body.digests)
            .position(|(d, signed)| &d != signed)
        {
            return Err(Error::ProtocolViolation {
                task: *task,
                reason: format!(
                    "share {} of {} does not match its signed digest",
                    i + 1,
                    self.core.signer
                ),
            });
        }
        Ok(())
    }
}

impl Encode for Bundle {
    fn encode(&self, w: &mut Writer) {
        self.core.encode(w);
        w.list(&self.shares, |w, s| s.encode(w));
    }
}

impl Decode for Bundle {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Bundle {
            core: Signed::decode(r)?,
            shares: r.list("shares", 36, SealedBox::decode)?,
        })
    }
}

/// Cloud → CP i: DP's signed core and the share sealed to CP i.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareDelivery {
    /// The DP's signed commitments and digests.
    pub core: Signed<BundleCore>,
    /// The recipient CP's index.
    pub index: u32,
    /// The share sealed to CP `index`.
    pub share: SealedBox,
}

impl ShareDelivery {
    /// Whether the share is the one the DP signed for this index.
    pub fn digest_matches(&self) -> bool {
        let signed = self
            .index
            .checked_sub(1)
            .and_then(|i| self.core.body.digests.get(i as usize));
        signed == Some(&share_digest(&self.share))
    }
}

impl Encode for ShareDelivery {
    fn encode(&self, w: &mut Writer) {
        self.core.encode(w);
        w.u32(self.index);
        self.share.encode(w);
    }
}

impl Decode for ShareDelivery {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(ShareDelivery {
            core: Signed::decode(r)?,
            index: r.u32("index")?,
            share: SealedBox::decode(r)?,
        })
    }
}

/// The plaintext sealed to one CP: its share and, in verifiable mode, its blinding share; in a
/// fast task that validates inputs, its share of the proof.
///
/// Layout: `share` ‖ `blind flag u8 (0 | 1)` ‖ `blind element if 1` ‖ `validity flag u8 (0 | 1)`
/// ‖ `if 1: proof share ‖ part blind [32]`, where a share (and a proof share) is
/// `tag u8 (1 = explicit: u32 count ‖ elements; 2 = seed: 32 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePayload<F: Field> {
    /// The share of the input vector (in a fast task that validates inputs, of its bits).
    pub share: ShareValue<F>,
    /// The blinding polynomial's value at the CP's index (verifiable mode).
    pub blind: Option<F>,
    /// The share of the fully linear proof (fast mode, validated inputs).
    pub validity: Option<ValidityShare<F>>,
}

/// One CP's share of a DP's fully linear proof ([`crate::crypto::flp`]) and the blind of its
/// joint-randomness part, which keeps the public part from revealing a low-entropy share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidityShare<F: Field> {
    /// The share of the proof.
    pub proof: ShareValue<F>,
    /// The blind hashed into this CP's part ([`crate::roles::validity_part`]).
    pub blind: Seed,
}

pub(crate) fn write_share_value<F: Field>(w: &mut Writer, value: &ShareValue<F>) {
    match value {
        ShareValue::Explicit(v) => {
            w.u8(1);
            w.field_elements(v.as_slice());
        }
        ShareValue::Seeded(seed) => {
            w.u8(2);
            w.fixed(seed.as_bytes());
        }
    }
}

fn read_share_value<F: Field>(r: &mut Reader<'_>) -> Result<ShareValue<F>, CodecError> {
    Ok(match r.u8("share tag")? {
        1 => ShareValue::Explicit(SecretVec::from_vec(r.field_elements("share")?)),
        2 => ShareValue::Seeded(Seed::from_bytes(r.array("seed")?)),
        _ => return Err(CodecError::InvalidValue { what: "share tag" }),
    })
}

impl<F: Field> SharePayload<F> {
    /// The encoding, in memory that is zeroized when dropped.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        write_share_value(&mut w, &self.share);
        match &self.blind {
            Some(b) => {
                w.u8(1);
                w.field_element(b);
            }
            None => w.u8(0),
        }
        match &self.validity {
            Some(v) => {
                w.u8(1);
                write_share_value(&mut w, &v.proof);
                w.fixed(v.blind.as_bytes());
            }
            None => w.u8(0),
        }
        Zeroizing::new(w.into_bytes())
    }

    /// Decodes a payload whose explicit share must have `dim` elements.
    pub fn from_bytes(bytes: &[u8], dim: usize) -> Result<Self, CodecError> {
        let payload: SharePayload<F> = decode_exact(bytes)?;
        if let ShareValue::Explicit(v) = &payload.share
            && v.len() != dim
        {
            return Err(CodecError::InvalidValue {
                what: "share length",
            });
        }
        Ok(payload)
    }
}

impl<F: Field> Decode for SharePayload<F> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let share = read_share_value(r)?;
        let blind = match r.u8("blind flag")? {
            0 => None,
            1 => Some(r.field_element("blind")?),
            _ => return Err(CodecError::InvalidValue { what: "blind flag" }),
        };
        let validity = match r.u8("validity flag")? {
            0 => None,
            1 => Some(ValidityShare {
                proof: read_share_value(r)?,
                blind: Seed::from_bytes(r.array("part blind")?),
            }),
            _ => {
                return Err(CodecError::InvalidValue {
                    what: "validity flag",
                });
            }
        };
        Ok(SharePayload {
            share,
            blind,
            validity,
        })
    }
}
