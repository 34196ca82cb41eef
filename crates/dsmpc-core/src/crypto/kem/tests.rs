//! KEM round trips, and every way a sealed box can be wrong: wrong key or context, tampered or
//! truncated ciphertext, tampered ephemeral key, bad public keys.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use curve25519_dalek::traits::Identity;
use proptest::prelude::*;
use rand::rngs::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;

const CONTEXT: &[u8] = b"dsmpc test: task 7, dealer 3 -> party 2";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn key_pair(seed: u64) -> (KemSecretKey, KemPublicKey) {
    let sk = KemSecretKey::generate(&mut rng(seed));
    let pk = sk.public_key();
    (sk, pk)
}

#[test]
fn round_trip() {
    let (sk, pk) = key_pair(1);
    let sealed = seal(&pk, CONTEXT, b"hello, share", &mut rng(2));
    assert_eq!(sealed.ciphertext.len(), b"hello, share".len() + TAG_LEN);
    let opened = open(&sk, CONTEXT, &sealed).unwrap();
    assert_eq!(opened.as_slice(), b"hello, share");
}

#[test]
fn empty_plaintext_and_context_round_trip() {
    let (sk, pk) = key_pair(3);
    let sealed = seal(&pk, b"", b"", &mut rng(4));
    assert_eq!(sealed.ciphertext.len(), TAG_LEN);
    assert!(open(&sk, b"", &sealed).unwrap().is_empty());
}

#[test]
fn every_seal_uses_a_fresh_ephemeral_key() {
    let (_, pk) = key_pair(5);
    let mut r = rng(6);
    let a = seal(&pk, CONTEXT, b"same", &mut r);
    let b = seal(&pk, CONTEXT, b"same", &mut r);
    assert_ne!(a.ephemeral, b.ephemeral);
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[test]
fn wrong_key_fails() {
    let (_, pk) = key_pair(7);
    let (other, _) = key_pair(8);
    let sealed = seal(&pk, CONTEXT, b"secret", &mut rng(9));
    assert_eq!(
        open(&other, CONTEXT, &sealed),
        Err(CryptoError::DecryptionFailed)
    );
}

#[test]
fn wrong_context_fails() {
    let (sk, pk) = key_pair(10);
    let sealed = seal(&pk, CONTEXT, b"secret", &mut rng(11));
    assert_eq!(
        open(&sk, b"another context", &sealed),
        Err(CryptoError::DecryptionFailed)
    );
    assert_eq!(open(&sk, b"", &sealed), Err(CryptoError::DecryptionFailed));
}

#[test]
fn tampered_ciphertext_fails() {
    let (sk, pk) = key_pair(12);
    let sealed = seal(
        &pk,
        CONTEXT,
        b"thirty-two bytes of plaintext!!!",
        &mut rng(13),
    );
    let len = sealed.ciphertext.len();
    // First, middle and last plaintext bytes, and first and last tag bytes.
    for i in [0, 15, len - TAG_LEN - 1, len - TAG_LEN, len - 1] {
        for bit in [0x01, 0x80] {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= bit;
            assert_eq!(
                open(&sk, CONTEXT, &bad),
                Err(CryptoError::DecryptionFailed),
                "byte {i}"
            );
        }
    }
}

#[test]
fn truncated_or_extended_ciphertext_fails() {
    let (sk, pk) = key_pair(14);
    let sealed = seal(&pk, CONTEXT, b"some plaintext", &mut rng(15));
    let len = sealed.ciphertext.len();
    for keep in [0, 1, TAG_LEN - 1, TAG_LEN, len - 1] {
        let mut bad = sealed.clone();
        bad.ciphertext.truncate(keep);
        assert_eq!(
            open(&sk, CONTEXT, &bad),
            Err(CryptoError::DecryptionFailed),
            "{keep} bytes"
        );
    }
    let mut longer = sealed.clone();
    longer.ciphertext.push(0);
    assert_eq!(
        open(&sk, CONTEXT, &longer),
        Err(CryptoError::DecryptionFailed)
    );
}

#[test]
fn tampered_ephemeral_fails() {
    let (sk, pk) = key_pair(16);
    let sealed = seal(&pk, CONTEXT, b"payload", &mut rng(17));
    for i in 0..32 {
        for bit in [0x01, 0x02, 0x80] {
            let mut bad = sealed.clone();
            bad.ephemeral[i] ^= bit;
            let err = open(&sk, CONTEXT, &bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    CryptoError::DecryptionFailed | CryptoError::InvalidPoint
                ),
                "byte {i}: {err:?}"
            );
        }
    }
    // A valid point that is not the sender's ephemeral key.
    let mut bad = sealed.clone();
    bad.ephemeral = RISTRETTO_BASEPOINT_POINT.compress().to_bytes();
    assert_eq!(open(&sk, CONTEXT, &bad), Err(CryptoError::DecryptionFailed));
    // The identity is refused outright.
    bad.ephemeral = [0; 32];
    assert_eq!(open(&sk, CONTEXT, &bad), Err(CryptoError::InvalidPoint));
    assert_eq!(shared_secret(&sk, &[0; 32]), Err(CryptoError::InvalidPoint));
    assert_eq!(
        shared_secret(&sk, &[0xff; 32]),
        Err(CryptoError::InvalidPoint)
    );
}

#[test]
fn bad_public_keys_are_refused() {
    let identity = RistrettoPoint::identity().compress().to_bytes();
    assert_eq!(identity, [0; 32]);
    assert_eq!(
        KemPublicKey::from_bytes(&identity),
        Err(CryptoError::InvalidPoint)
    );
    // Not canonical: the field element p = 2^255 - 19, and a "negative" encoding (low bit set).
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    assert_eq!(KemPublicKey::from_bytes(&p), Err(CryptoError::InvalidPoint));
    let mut negative = RISTRETTO_BASEPOINT_POINT.compress().to_bytes();
    negative[0] |= 1;
    assert_eq!(
        KemPublicKey::from_bytes(&negative),
        Err(CryptoError::InvalidPoint)
    );
    assert_eq!(
        KemPublicKey::from_bytes(&[0xff; 32]),
        Err(CryptoError::InvalidPoint)
    );
}

#[test]
fn key_encodings_round_trip() {
    let (sk, pk) = key_pair(18);
    let sk2 = KemSecretKey::from_bytes(&sk.to_bytes()).unwrap();
    assert_eq!(sk2.public_key(), pk);
    assert_eq!(KemPublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
    assert_eq!(pk.point().compress().to_bytes(), pk.to_bytes());
    let z = shared_secret(&sk, &seal(&pk, b"", b"", &mut rng(19)).ephemeral).unwrap();
    assert_eq!(SharedSecret::from_bytes(&z.to_bytes()).unwrap(), z);
    assert_eq!(
        SharedSecret::from_bytes(&[0; 32]),
        Err(CryptoError::InvalidPoint)
    );
}

#[test]
fn bad_secret_keys_are_refused() {
    assert_eq!(
        KemSecretKey::from_bytes(&[0; 32]).unwrap_err(),
        CryptoError::InvalidScalar
    );
    assert_eq!(
        KemSecretKey::from_bytes(&[0xff; 32]).unwrap_err(),
        CryptoError::InvalidScalar
    );
    // The group order ℓ itself is not canonical.
    let order = (-Scalar::ONE).to_bytes();
    let mut ell = order;
    ell[0] += 1;
    assert_eq!(
        KemSecretKey::from_bytes(&ell).unwrap_err(),
        CryptoError::InvalidScalar
    );
    assert!(KemSecretKey::from_bytes(&order).is_ok());
}

#[test]
fn open_with_shared_secret_matches_open() {
    let (sk, pk) = key_pair(20);
    let sealed = seal(&pk, CONTEXT, b"audit me", &mut rng(21));
    let z = shared_secret(&sk, &sealed.ephemeral).unwrap();
    let revealed = SharedSecret::from_bytes(&z.to_bytes()).unwrap();
    let by_auditor = open_with_shared_secret(&revealed, &pk, CONTEXT, &sealed).unwrap();
    assert_eq!(
        by_auditor.as_slice(),
        open(&sk, CONTEXT, &sealed).unwrap().as_slice()
    );
    // The shared secret of another message does not open this one.
    let other = seal(&pk, CONTEXT, b"other", &mut rng(22));
    let z_other = shared_secret(&sk, &other.ephemeral).unwrap();
    assert_eq!(
        open_with_shared_secret(&z_other, &pk, CONTEXT, &sealed),
        Err(CryptoError::DecryptionFailed)
    );
    // Nor does the right one under another recipient's name.
    let (_, pk_other) = key_pair(23);
    assert_eq!(
        open_with_shared_secret(&z, &pk_other, CONTEXT, &sealed),
        Err(CryptoError::DecryptionFailed)
    );
}

#[test]
fn debug_does_not_print_secrets() {
    let mut bytes = [0xab; 32];
    bytes[31] = 0x0a;
    let sk = KemSecretKey::from_bytes(&bytes).unwrap();
    let shown = format!("{sk:?}");
    assert_eq!(shown, "KemSecretKey(<redacted>)");
    assert!(!shown.contains("ab"));
    let z = shared_secret(&sk, &RISTRETTO_BASEPOINT_POINT.compress().to_bytes()).unwrap();
    let z_hex = super::hex(&z.to_bytes());
    let shown = format!("{z:?}");
    assert_eq!(shown, "SharedSecret(<redacted>)");
    assert!(!shown.contains(&z_hex[..8]));
    let pk = sk.public_key();
    assert_eq!(
        format!("{pk:?}"),
        format!("KemPublicKey({})", super::hex(&pk.to_bytes()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_random(
        plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
        context in proptest::collection::vec(any::<u8>(), 0..64),
        seed in any::<u64>(),
    ) {
        let (sk, pk) = key_pair(seed);
        let sealed = seal(&pk, &context, &plaintext, &mut rng(seed ^ 1));
        prop_assert_eq!(sealed.ciphertext.len(), plaintext.len() + TAG_LEN);
        let opened = open(&sk, &context, &sealed).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
}

/// Recomputes a sealed box by following the documented construction step by step, with
/// one-shot HKDF (concatenated info) and the allocating AEAD API.
#[test]
fn construction_matches_the_documentation() {
    use aes_gcm::aead::{Aead, Payload};

    let (sk, pk) = key_pair(24);
    let mut r = rng(25);
    let sealed = seal(&pk, CONTEXT, b"documented", &mut r);
    // The same rng stream gives the same ephemeral scalar.
    let e = random_nonzero_scalar(&mut rng(25));
    assert_eq!(
        sealed.ephemeral,
        RistrettoPoint::mul_base(&e).compress().to_bytes()
    );
    let z = (e * pk.point()).compress().to_bytes();
    assert_eq!(z, shared_secret(&sk, &sealed.ephemeral).unwrap().to_bytes());
    let mut info = sealed.ephemeral.to_vec();
    info.extend_from_slice(&pk.to_bytes());
    info.extend_from_slice(CONTEXT);
    let mut okm = [0u8; 44];
    Hkdf::<Sha256>::new(Some(b"dsmpc/v1/kem"), &z)
        .expand(&info, &mut okm)
        .unwrap();
    let cipher = Aes256Gcm::new_from_slice(&okm[..32]).unwrap();
    let nonce = Nonce::<Aes256Gcm>::try_from(&okm[32..]).unwrap();
    let payload = Payload {
        msg: b"documented",
        aad: CONTEXT,
    };
    assert_eq!(cipher.encrypt(&nonce, payload).unwrap(), sealed.ciphertext);
}

#[test]
fn seal_with_a_drawn_ephemeral_opens_and_the_stored_public_key_is_right() {
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let sk = KemSecretKey::generate(&mut rng);
    let restored = KemSecretKey::from_bytes(&sk.to_bytes()).unwrap();
    assert_eq!(restored.public_key(), sk.public_key());
    assert_eq!(
        sk.public_key().point(),
        &curve25519_dalek::RistrettoPoint::mul_base(sk.scalar())
    );
    let first = seal_with(
        &sk.public_key(),
        b"ctx",
        b"one",
        Ephemeral::generate(&mut rng),
    );
    let second = seal_with(
        &sk.public_key(),
        b"ctx",
        b"one",
        Ephemeral::generate(&mut rng),
    );
    assert_ne!(first.ephemeral, second.ephemeral, "a fresh key per message");
    assert_eq!(open(&restored, b"ctx", &first).unwrap().as_slice(), b"one");
    assert!(open(&restored, b"other", &second).is_err());
    assert_eq!(
        format!("{:?}", Ephemeral::generate(&mut rng)),
        "Ephemeral(<redacted>)"
    );
}

#[test]
fn half_is_the_inverse_of_two() {
    assert_eq!(half() * Scalar::from(2u8), Scalar::ONE);
}

/// Inputs for `seal_batch`: recipients with their own contexts and plaintexts.
struct BatchInputs {
    secrets: Vec<KemSecretKey>,
    publics: Vec<KemPublicKey>,
    contexts: Vec<Vec<u8>>,
    plaintexts: Vec<Vec<u8>>,
}

impl BatchInputs {
    fn new(n: usize, seed: u64) -> BatchInputs {
        let (secrets, publics) = (0..n)
            .map(|i| key_pair(seed.wrapping_mul(100).wrapping_add(i as u64)))
            .unzip();
        BatchInputs {
            secrets,
            publics,
            contexts: (0..n)
                .map(|i| format!("context {i}").into_bytes())
                .collect(),
            plaintexts: (0..n).map(|i| vec![i as u8; 10 * i]).collect(),
        }
    }

    fn messages(&self) -> Vec<Message<'_>> {
        (0..self.publics.len())
            .map(|i| Message {
                recipient: &self.publics[i],
                context: &self.contexts[i],
                plaintext: &self.plaintexts[i],
            })
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Sealing together gives exactly the boxes of sealing one by one with the same ephemerals,
    /// and every recipient opens its own.
    #[test]
    fn sealing_together_equals_sealing_one_by_one(n in 0usize..9, seed in any::<u64>()) {
        let inputs = BatchInputs::new(n, seed);
        let messages = inputs.messages();
        let ephemerals = |seed| {
            let mut r = rng(seed);
            (0..n).map(|_| Ephemeral::generate(&mut r)).collect::<Vec<_>>()
        };
        let together = seal_batch(&messages, ephemerals(seed ^ 1));
        let alone: Vec<SealedBox> = messages
            .iter()
            .zip(ephemerals(seed ^ 1))
            .map(|(m, e)| seal_with(m.recipient, m.context, m.plaintext, e))
            .collect();
        prop_assert_eq!(&together, &alone);
        for (i, sealed) in together.iter().enumerate() {
            let opened = open(&inputs.secrets[i], &inputs.contexts[i], sealed).unwrap();
            prop_assert_eq!(opened.as_slice(), inputs.plaintexts[i].as_slice());
        }
    }
}

#[test]
fn a_batch_seals_only_as_many_messages_as_it_has_ephemerals() {
    let inputs = BatchInputs::new(3, 7);
    let messages = inputs.messages();
    let mut r = rng(8);
    let two = vec![Ephemeral::generate(&mut r), Ephemeral::generate(&mut r)];
    assert_eq!(seal_batch(&messages, two).len(), 2);
    assert!(seal_batch(&[], vec![Ephemeral::generate(&mut r)]).is_empty());
    let debug = format!("{:?}", messages[0]);
    assert!(
        debug.contains("redacted") && !debug.contains("context 0"),
        "{debug}"
    );
}

/// Opening together gives what opening one by one gives, in order: plaintexts for good boxes,
/// the same error for each bad one, however good and bad boxes mix.
#[test]
fn opening_together_equals_opening_one_by_one() {
    let (sk, pk) = key_pair(30);
    let mut r = rng(31);
    let good: Vec<SealedBox> = (0..5u8)
        .map(|i| seal(&pk, CONTEXT, &[i; 40], &mut r))
        .collect();
    let mut tampered = good[0].clone();
    tampered.ciphertext[3] ^= 1;
    let mut truncated = good[1].clone();
    truncated.ciphertext.truncate(TAG_LEN - 1);
    let mut identity = good[2].clone();
    identity.ephemeral = [0; 32];
    let mut undecodable = good[3].clone();
    undecodable.ephemeral = [0xff; 32];
    let mut other_point = good[4].clone();
    other_point.ephemeral = RISTRETTO_BASEPOINT_POINT.compress().to_bytes();
    let boxes = [
        good[0].clone(),
        tampered,
        identity,
        good[1].clone(),
        undecodable,
        truncated,
        other_point,
        good[4].clone(),
    ];
    let contexts: Vec<&[u8]> = (0..boxes.len())
        .map(|i| {
            if i == 3 {
                &b"another context"[..]
            } else {
                CONTEXT
            }
        })
        .collect();
    let items: Vec<(&[u8], &SealedBox)> = contexts.iter().copied().zip(&boxes).collect();
    let together = open_batch(&sk, &items);
    let alone: Vec<_> = items.iter().map(|(c, b)| open(&sk, c, b)).collect();
    assert_eq!(together, alone);
    let opened: Vec<usize> = (0..boxes.len()).filter(|&i| together[i].is_ok()).collect();
    assert_eq!(opened, [0, 7]);
    assert_eq!(together[0].as_ref().unwrap().as_slice(), &[0u8; 40]);
    assert_eq!(together[2], Err(CryptoError::InvalidPoint));
    assert!(open_batch(&sk, &[]).is_empty());
    // Only bad ephemeral keys: nothing to multiply, every box refused.
    let bad_only = [(CONTEXT, &boxes[2]), (CONTEXT, &boxes[4])];
    assert!(open_batch(&sk, &bad_only).iter().all(Result::is_err));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// One ephemeral key for all: every box carries the same `E`, equals `seal_with`'s box for
    /// its message under that scalar (the first one the generator draws), and opens for its
    /// recipient only.
    #[test]
    fn sealing_to_all_equals_sealing_each_under_the_one_ephemeral(
        n in 1usize..9,
        seed in any::<u64>(),
    ) {
        let inputs = BatchInputs::new(n, seed);
        let messages = inputs.messages();
        let boxes = seal_to_all(&messages, &mut rng(seed ^ 2));
        prop_assert_eq!(boxes.len(), n);
        for (i, (m, sealed)) in messages.iter().zip(&boxes).enumerate() {
            let e = Ephemeral::generate(&mut rng(seed ^ 2));
            prop_assert_eq!(sealed, &seal_with(m.recipient, m.context, m.plaintext, e));
            prop_assert_eq!(sealed.ephemeral, boxes[0].ephemeral);
            let opened = open(&inputs.secrets[i], &inputs.contexts[i], sealed).unwrap();
            prop_assert_eq!(opened.as_slice(), inputs.plaintexts[i].as_slice());
            let other = (i + 1) % n;
            if other != i {
                prop_assert_eq!(
                    open(&inputs.secrets[other], &inputs.contexts[i], sealed),
                    Err(CryptoError::DecryptionFailed)
                );
            }
        }
    }
}

/// A complaint reveals one box's shared secret: it opens that box and no other box of the
/// bundle, although they all carry the same ephemeral key.
#[test]
fn a_revealed_shared_secret_opens_only_its_own_box_of_a_shared_ephemeral() {
    let inputs = BatchInputs::new(3, 40);
    let boxes = seal_to_all(&inputs.messages(), &mut rng(41));
    let revealed = shared_secret(&inputs.secrets[1], &boxes[1].ephemeral).unwrap();
    let opened = open_with_shared_secret(
        &revealed,
        &inputs.publics[1],
        &inputs.contexts[1],
        &boxes[1],
    );
    assert_eq!(opened.unwrap().as_slice(), inputs.plaintexts[1].as_slice());
    for other in [0, 2] {
        assert_eq!(
            open_with_shared_secret(
                &revealed,
                &inputs.publics[other],
                &inputs.contexts[other],
                &boxes[other]
            ),
            Err(CryptoError::DecryptionFailed)
        );
    }
}

/// Two messages with the same recipient and context would share a key and nonce under one
/// ephemeral key: then each message gets its own, and both still open.
#[test]
fn a_repeated_recipient_and_context_gets_its_own_ephemeral() {
    let (sk, pk) = key_pair(50);
    let (other_sk, other_pk) = key_pair(51);
    let messages = [
        Message {
            recipient: &pk,
            context: CONTEXT,
            plaintext: b"first",
        },
        Message {
            recipient: &other_pk,
            context: CONTEXT,
            plaintext: b"to another",
        },
        Message {
            recipient: &pk,
            context: CONTEXT,
            plaintext: b"second",
        },
    ];
    let boxes = seal_to_all(&messages, &mut rng(52));
    assert_ne!(boxes[0].ephemeral, boxes[1].ephemeral);
    assert_ne!(boxes[0].ephemeral, boxes[2].ephemeral);
    assert_eq!(open(&sk, CONTEXT, &boxes[0]).unwrap().as_slice(), b"first");
    assert_eq!(
        open(&other_sk, CONTEXT, &boxes[1]).unwrap().as_slice(),
        b"to another"
    );
    assert_eq!(open(&sk, CONTEXT, &boxes[2]).unwrap().as_slice(), b"second");
    // The same recipient under different contexts (a CP's index differs) keeps one ephemeral.
    let contexts = [&b"index 1"[..], &b"index 2"[..]];
    let distinct: Vec<Message<'_>> = contexts
        .iter()
        .map(|context| Message {
            recipient: &pk,
            context,
            plaintext: b"x",
        })
        .collect();
    let boxes = seal_to_all(&distinct, &mut rng(53));
    assert_eq!(boxes[0].ephemeral, boxes[1].ephemeral);
    assert_ne!(boxes[0].ciphertext, boxes[1].ciphertext);
    assert!(seal_to_all(&[], &mut rng(54)).is_empty());
}
