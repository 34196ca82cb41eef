//! Ed25519 verification with one acceptance rule, whether a signature is checked alone or in a
//! batch.
//!
//! `ed25519-dalek`'s `verify_strict` checks the cofactorless equation `[s]B = R + [k]A`, and its
//! `verify_batch` the cofactored one `[8][s]B = [8]R + [8][k]A`. The two disagree on signatures
//! whose `R` carries a small-order component, so a party that verified one batch could accept a
//! signature that the same party, checking it alone, would refuse — and which party is named a
//! cheater would then depend on which other messages happened to share its batch. Every check
//! here uses the cofactored equation (as ZIP-215 does), alone or batched, so the outcome of a
//! signature never depends on its neighbours. On top of the equation, as `verify_strict` does,
//! it refuses:
//!
//! * a public key `A` of small order (such a key would "sign" many messages at once);
//! * an `R` of small order, an `R` that is not a point, or whose encoding is not canonical
//!   (`y ≥ p`);
//! * an `s` that is not below the group order (the classic malleability of Ed25519).
//!
//! Honest signatures (RFC 8032) pass both this check and `verify_strict`. A batch of `n`
//! signatures costs one variable-time multi-scalar multiplication over `2n + 1` points with
//! random 128-bit weights: every valid batch passes, and a batch holding an invalid signature
//! passes with probability at most 2^-128 (after the final `[8]` every term lies in the group of
//! prime order ℓ, where one failing term is cancelled by at most one value of its weight).

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::CryptoRng;
use rayon::prelude::*;
use sha2::{Digest, Sha512};

/// The most signatures per multi-scalar multiplication in [`verify_batch`]: by 256 the cost per
/// signature is near its floor (about 2.5 times below a single check), and larger batches are
/// better split across rayon's threads.
const MAX_CHUNK: usize = 256;

/// The fewest signatures per chunk when a batch is split across threads: below this the cost per
/// signature rises quickly (16: 0.55 of a single check; 4: 0.7), so small batches stay whole.
const MIN_CHUNK: usize = 32;

/// One signature to check: the signer's key, the signed message and the signature.
#[derive(Clone, Copy)]
pub struct SignatureCheck<'a> {
    /// The signer's public key.
    pub key: &'a VerifyingKey,
    /// The exact signed bytes.
    pub message: &'a [u8],
    /// The signature to check.
    pub signature: &'a Signature,
}

/// A signature that passed the encoding checks, ready for the group equation.
struct Prepared {
    /// The signer's key `A`.
    a: EdwardsPoint,
    /// The commitment `R`.
    r: EdwardsPoint,
    /// The response `s`.
    s: Scalar,
    /// The challenge `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
    k: Scalar,
}

/// `true` if `check.signature` is valid for `check.message` under `check.key`, by the rule of
/// this module (cofactored equation, strict encodings, no small-order `A` or `R`).
pub fn verify(check: &SignatureCheck<'_>) -> bool {
    let Some(p) = prepare(check) else {
        return false;
    };
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-p.k, &p.a, &p.s);
    (sb_minus_ka - p.r).mul_by_cofactor().is_identity()
}

/// `true` if every signature in `checks` is valid by the rule of [`verify`] (an empty batch is
/// valid). When it is `false`, check the items one by one with [`verify`] to find which failed.
///
/// The random weights come from `rng`; the multi-scalar multiplications run in parallel.
pub fn verify_batch<R: CryptoRng + ?Sized>(checks: &[SignatureCheck<'_>], rng: &mut R) -> bool {
    if let [single] = checks {
        // A batch of one costs more than the single check, which needs no weight.
        return verify(single);
    }
    let weights: Vec<Scalar> = checks.iter().map(|_| random_weight(rng)).collect();
    let chunk = chunk_size(checks.len(), rayon::current_num_threads());
    if checks.len() <= chunk {
        // One chunk: checked on the caller's thread, without a hand-off to rayon and back.
        return chunk_holds(checks, &weights);
    }
    checks
        .par_chunks(chunk)
        .zip(weights.par_chunks(chunk))
        .all(|(chunk, weights)| chunk_holds(chunk, weights))
}

/// Signatures per chunk for a batch of `n` on `threads` threads: one chunk per thread, within
/// [`MIN_CHUNK`]..=[`MAX_CHUNK`].
fn chunk_size(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.max(1)).clamp(MIN_CHUNK, MAX_CHUNK)
}

/// The batch equation for one chunk:
/// `[8]( [Σ zᵢ·sᵢ]B − Σ [zᵢ]Rᵢ − Σ [zᵢ·kᵢ]Aᵢ ) == identity`.
fn chunk_holds(checks: &[SignatureCheck<'_>], weights: &[Scalar]) -> bool {
    let mut prepared = Vec::with_capacity(checks.len());
    for check in checks {
        match prepare(check) {
            Some(p) => prepared.push(p),
            None => return false,
        }
    }
    let mut b_scalar = Scalar::ZERO;
    let mut scalars = Vec::with_capacity(2 * prepared.len() + 1);
    let mut points = Vec::with_capacity(2 * prepared.len() + 1);
    for (p, z) in prepared.iter().zip(weights) {
        b_scalar += z * p.s;
        scalars.push(-z);
        points.push(p.r);
        scalars.push(-(z * p.k));
        points.push(p.a);
    }
    scalars.push(b_scalar);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(&scalars, &points)
        .mul_by_cofactor()
        .is_identity()
}

/// The encoding checks of this module's rule, then the decoded values; `None` if any fails.
fn prepare(check: &SignatureCheck<'_>) -> Option<Prepared> {
    if check.key.is_weak() {
        return None;
    }
    let r_bytes = check.signature.r_bytes();
    if !y_is_canonical(r_bytes) {
        return None;
    }
    let r = CompressedEdwardsY(*r_bytes).decompress()?;
    if r.is_small_order() {
        return None;
    }
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(*check.signature.s_bytes()))?;
    let mut hash = Sha512::new();
    hash.update(r_bytes);
    hash.update(check.key.as_bytes());
    hash.update(check.message);
    let k = Scalar::from_hash(hash);
    Some(Prepared {
        a: check.key.to_edwards(),
        r,
        s,
        k,
    })
}

/// Whether the y-coordinate in an Edwards point encoding (its low 255 bits, little-endian) is
/// below p = 2^255 − 19. The sign bit is not judged here: the only points with x = 0, where a set
/// sign bit would be a second encoding, have small order and are refused anyway.
fn y_is_canonical(bytes: &[u8; 32]) -> bool {
    // y ≥ p exactly when the bits are all ones from bit 254 down to bit 5 and the low byte is
    // at least 0xED (p's low byte).
    let top = bytes[31] & 0x7f;
    let middle_all_ones = bytes[1..31].iter().all(|&b| b == 0xff);
    !(top == 0x7f && middle_all_ones && bytes[0] >= 0xed)
}

/// A uniformly random 128-bit weight.
fn random_weight<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    Scalar::from(u128::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    fn signer(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn check<'a>(
        key: &'a VerifyingKey,
        message: &'a [u8],
        sig: &'a Signature,
    ) -> SignatureCheck<'a> {
        SignatureCheck {
            key,
            message,
            signature: sig,
        }
    }

    fn rng() -> impl CryptoRng {
        crate::rng::os_rng()
    }

    /// A signature with `r_bytes` and `s_bytes` replaced.
    fn with_parts(r: [u8; 32], s: [u8; 32]) -> Signature {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r);
        bytes[32..].copy_from_slice(&s);
        Signature::from_bytes(&bytes)
    }

    /// A valid signature of `message` by `sk` whose R carries the small-order component `t`:
    /// built by hand so that the cofactored equation holds while the cofactorless one fails.
    fn mixed_order_signature(sk: &SigningKey, message: &[u8], t: EdwardsPoint) -> Signature {
        let nonce = Scalar::from(123_456_789u64);
        let r = EdwardsPoint::mul_base(&nonce) + t;
        let r_bytes = r.compress().to_bytes();
        let mut hash = Sha512::new();
        hash.update(r_bytes);
        hash.update(sk.verifying_key().as_bytes());
        hash.update(message);
        let k = Scalar::from_hash(hash);
        let s = nonce + k * sk.to_scalar();
        with_parts(r_bytes, s.to_bytes())
    }

    #[test]
    fn an_honest_signature_passes_alone_and_in_a_batch() {
        let sk = signer(1);
        let vk = sk.verifying_key();
        let sig = sk.sign(b"message");
        assert!(verify(&check(&vk, b"message", &sig)));
        assert!(verify_batch(&[check(&vk, b"message", &sig)], &mut rng()));
        assert!(verify_batch(&[], &mut rng()), "an empty batch is valid");
    }

    #[test]
    fn another_message_or_key_fails() {
        let sk = signer(1);
        let vk = sk.verifying_key();
        let other = signer(2).verifying_key();
        let sig = sk.sign(b"message");
        assert!(!verify(&check(&vk, b"messagE", &sig)));
        assert!(!verify(&check(&other, b"message", &sig)));
    }

    #[test]
    fn one_forged_signature_fails_a_large_batch_and_is_found_alone() {
        let keys: Vec<SigningKey> = (0..600u16).map(|i| signer((i % 251) as u8 + 1)).collect();
        let vks: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
        let messages: Vec<Vec<u8>> = (0..600u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
        fn checks<'a>(
            vks: &'a [VerifyingKey],
            messages: &'a [Vec<u8>],
            sigs: &'a [Signature],
        ) -> Vec<SignatureCheck<'a>> {
            (0..sigs.len())
                .map(|i| check(&vks[i], &messages[i], &sigs[i]))
                .collect()
        }
        assert!(verify_batch(&checks(&vks, &messages, &sigs), &mut rng()));
        sigs[457] = keys[457].sign(b"something else");
        assert!(!verify_batch(&checks(&vks, &messages, &sigs), &mut rng()));
        let bad: Vec<usize> = checks(&vks, &messages, &sigs)
            .iter()
            .enumerate()
            .filter(|(_, c)| !verify(c))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, vec![457]);
    }

    #[test]
    fn a_non_canonical_s_is_refused() {
        let sk = signer(3);
        let vk = sk.verifying_key();
        let sig = sk.sign(b"m");
        // s + ℓ encodes the same residue: the equation would hold, the encoding is malleated.
        let s = Scalar::from_canonical_bytes(*sig.s_bytes()).unwrap();
        let mut s_plus_l = [0u8; 32];
        let mut carry = 0u16;
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let mut l = [0u8; 32];
        l[..16].copy_from_slice(&[
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14,
        ]);
        l[31] = 0x10;
        assert_eq!(Scalar::from_bytes_mod_order(l), Scalar::ZERO);
        for i in 0..32 {
            let v = u16::from(s.to_bytes()[i]) + u16::from(l[i]) + carry;
            s_plus_l[i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0, "s + ℓ fits in 256 bits");
        let malleated = with_parts(*sig.r_bytes(), s_plus_l);
        assert!(!verify(&check(&vk, b"m", &malleated)));
        assert!(!verify_batch(&[check(&vk, b"m", &malleated)], &mut rng()));
    }

    #[test]
    fn a_small_order_or_undecodable_r_is_refused() {
        let sk = signer(4);
        let vk = sk.verifying_key();
        let sig = sk.sign(b"m");
        for t in EIGHT_TORSION {
            let forged = with_parts(t.compress().to_bytes(), *sig.s_bytes());
            assert!(!verify(&check(&vk, b"m", &forged)));
            assert!(!verify_batch(&[check(&vk, b"m", &forged)], &mut rng()));
        }
        // y = 2 is not the y-coordinate of any curve point.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(CompressedEdwardsY(not_a_point).decompress().is_none());
        let forged = with_parts(not_a_point, *sig.s_bytes());
        assert!(!verify(&check(&vk, b"m", &forged)));
    }

    #[test]
    fn batches_split_into_one_chunk_per_thread_within_bounds() {
        assert_eq!(chunk_size(10, 2), MIN_CHUNK);
        assert_eq!(chunk_size(100, 2), 50);
        assert_eq!(chunk_size(100, 0), 100);
        assert_eq!(chunk_size(10_000, 2), MAX_CHUNK);
    }

    #[test]
    fn a_non_canonical_y_is_recognised() {
        let mut p = [0xffu8; 32];
        p[31] = 0x7f;
        p[0] = 0xed; // exactly p
        assert!(!y_is_canonical(&p));
        p[0] = 0xec; // p − 1
        assert!(y_is_canonical(&p));
        p[0] = 0xee;
        p[31] = 0xff; // p + 1 with the sign bit set
        assert!(!y_is_canonical(&p));
        assert!(y_is_canonical(&[0u8; 32]));
    }

    #[test]
    fn a_small_order_key_is_refused() {
        let weak = VerifyingKey::from_bytes(&EIGHT_TORSION[1].compress().to_bytes()).unwrap();
        // With A of small order, R = [s]B satisfies the cofactored equation for any message.
        let s = Scalar::from(5u8);
        let sig = with_parts(
            EdwardsPoint::mul_base(&s).compress().to_bytes(),
            s.to_bytes(),
        );
        assert!(!verify(&check(&weak, b"anything", &sig)));
        assert!(!verify_batch(
            &[check(&weak, b"anything", &sig)],
            &mut rng()
        ));
    }

    #[test]
    fn a_mixed_order_r_gets_the_same_answer_alone_and_in_any_batch() {
        let sk = signer(5);
        let vk = sk.verifying_key();
        let honest = signer(6);
        let honest_vk = honest.verifying_key();
        let honest_sig = honest.sign(b"h");
        for t in &EIGHT_TORSION[1..] {
            let sig = mixed_order_signature(&sk, b"m", *t);
            assert!(
                vk.verify_strict(b"m", &sig).is_err(),
                "the cofactorless rule refuses it"
            );
            let alone = verify(&check(&vk, b"m", &sig));
            assert!(alone, "the cofactored rule accepts it");
            let batch = [check(&honest_vk, b"h", &honest_sig), check(&vk, b"m", &sig)];
            for _ in 0..8 {
                assert_eq!(verify_batch(&batch, &mut rng()), alone);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn honest_signatures_pass_every_rule(seed in any::<[u8; 32]>(), message in proptest::collection::vec(any::<u8>(), 0..200)) {
            let sk = SigningKey::from_bytes(&seed);
            let vk = sk.verifying_key();
            let sig = sk.sign(&message);
            prop_assert!(vk.verify_strict(&message, &sig).is_ok());
            prop_assert!(verify(&check(&vk, &message, &sig)));
            prop_assert!(verify_batch(&[check(&vk, &message, &sig)], &mut rng()));
        }

        #[test]
        fn a_flipped_bit_anywhere_fails_alone_and_batched(seed in any::<[u8; 32]>(), bit in 0usize..(64 * 8 + 16 * 8)) {
            let sk = SigningKey::from_bytes(&seed);
            let vk = sk.verifying_key();
            let mut message = [7u8; 16];
            let sig = sk.sign(&message);
            let mut sig_bytes = sig.to_bytes();
            if bit < 64 * 8 {
                sig_bytes[bit / 8] ^= 1 << (bit % 8);
            } else {
                let b = bit - 64 * 8;
                message[b / 8] ^= 1 << (b % 8);
            }
            let tampered = Signature::from_bytes(&sig_bytes);
            let alone = verify(&check(&vk, &message, &tampered));
            prop_assert!(!alone);
            prop_assert!(!verify_batch(&[check(&vk, &message, &tampered)], &mut rng()));
        }
    }
}
