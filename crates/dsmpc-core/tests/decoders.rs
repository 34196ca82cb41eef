//! Decoder robustness: every decoder of untrusted bytes returns a `CodecError` on bad input rather
//! than panicking or allocating out of proportion to its input, and accepts only canonical
//! encodings (decode → encode is the identity on every accepted input).
//!
//! Inputs are arbitrary bytes and mutations of genuine messages: a deterministic harness run gives
//! one sample of every message kind; payloads and identity cards are generated. The `fuzz/`
//! directory at the repository root runs the same checks under libFuzzer, for longer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::LazyLock;

mod common;

use common::{KINDS, sample_run};

use dsmpc_core::codec::{Encode, decode_exact};
use dsmpc_core::field::{Field, M31, M61, Ristretto};
use dsmpc_core::harness::Outcome;
use dsmpc_core::identity::{IdentityCard, PartyId, Role, SecretIdentity};
use dsmpc_core::prg::Seed;
use dsmpc_core::round2::{SharePayload, ValidityShare};
use dsmpc_core::round4::ResultPayload;
use dsmpc_core::sharing::{SecretVec, ShareValue};
use dsmpc_core::wire::Envelope;
use proptest::prelude::*;
use proptest::sample::Index;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

// ---------------------------------------------------------------------------------------------
// Allocation tracking: the largest single allocation made on the current thread while measuring.

/// The system allocator, noting the size of every (re)allocation on a thread that is measuring.
struct Tracking;

thread_local! {
    /// `Some(largest so far)` while this thread measures.
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|largest| {
        if let Some(m) = largest.get() {
            largest.set(Some(m.max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; `note` neither allocates nor unwinds.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` and `layout` came from this allocator, which is `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(Some(0)));
    let out = f();
    let largest = LARGEST.with(|l| l.replace(None)).unwrap_or(0);
    (out, largest)
}

/// The most a decoder may allocate at once for `len` input bytes. Decoded values are larger than
/// their encodings (curve points are kept decompressed, vectors grow by doubling), but only by a
/// constant factor; a length prefix trusted before it is checked would ask for gigabytes.
fn allocation_bound(len: usize) -> usize {
    64 * len + 64 * 1024
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/// The deterministic run of `common::sample_run`, made once.
static RUN: LazyLock<Outcome> = LazyLock::new(sample_run);

/// One edit of a byte string. Positions are indices scaled to the string's current length.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Keep only a prefix.
    Truncate(Index),
    /// Insert bytes before a position (or at the end).
    Insert(Index, Vec<u8>),
    /// Remove up to `n` bytes from a position.
    Delete(Index, usize),
    /// Overwrite four bytes with a little-endian `u32`: where a length prefix or count sits, a lie.
    OverwriteU32(Index, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let big = prop_oneof![
        Just(u32::MAX),
        Just(u32::MAX - 1),
        Just(0x8000_0000),
        Just(0x7fff_ffff),
        Just(0x0100_0000),
        Just(0x0001_0000),
        Just(0xffff),
        0u32..300,
        any::<u32>(),
    ];
    prop_oneof![
        3 => (any::<Index>(), 1u8..).prop_map(|(i, m)| Mutation::Flip(i, m)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        3 => (any::<Index>(), big).prop_map(|(i, v)| Mutation::OverwriteU32(i, v)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..=4)
}

/// Applies `edits` to a copy of `original`.
fn mutate(original: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for edit in edits {
        let len = bytes.len();
        match edit {
            Mutation::Flip(i, mask) if len > 0 => bytes[i.index(len)] ^= mask,
            Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
            Mutation::Insert(i, new) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let at = i.index(len);
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::OverwriteU32(i, v) if len >= 4 => {
                let at = i.index(len - 3);
                bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {}
        }
    }
    bytes
}

/// A few edge values among uniformly random elements.
fn element<F: Field>() -> impl Strategy<Value = F> {
    prop_oneof![
        1 => Just(F::ZERO),
        1 => Just(F::ONE),
        1 => Just(-F::ONE),
        4 => any::<u64>().prop_map(|s| F::random(&mut ChaCha20Rng::seed_from_u64(s))),
    ]
}

fn share_value<F: Field>() -> impl Strategy<Value = ShareValue<F>> {
    let explicit = prop::collection::vec(element::<F>(), 1..=6)
        .prop_map(|v| ShareValue::Explicit(SecretVec::from_vec(v)));
    let seeded = any::<[u8; 32]>().prop_map(|s| ShareValue::Seeded(Seed::from_bytes(s)));
    prop_oneof![explicit, seeded]
}

/// The encoding of a share payload and its dimension: explicit or seeded, blinded or not, with
/// a proof share or not.
fn share_payload<F: Field>() -> impl Strategy<Value = (Vec<u8>, usize)> {
    let validity =
        (share_value::<F>(), any::<[u8; 32]>()).prop_map(|(proof, blind)| ValidityShare {
            proof,
            blind: Seed::from_bytes(blind),
        });
    (
        share_value::<F>(),
        prop::option::of(element::<F>()),
        prop::option::of(validity),
        1usize..=6,
    )
        .prop_map(|(share, blind, validity, dim)| {
            let dim = match &share {
                ShareValue::Explicit(v) => v.len(),
                ShareValue::Seeded(_) => dim,
            };
            let payload = SharePayload {
                share,
                blind,
                validity,
            };
            (payload.to_secret_bytes().to_vec(), dim)
        })
}

/// The encoding of a result payload and its dimension.
fn result_payload<F: Field>() -> impl Strategy<Value = (Vec<u8>, usize)> {
    (
        prop::collection::vec(element::<F>(), 1..=6),
        prop::option::of(element::<F>()),
    )
        .prop_map(|(sum, blind)| {
            let dim = sum.len();
            let payload = ResultPayload {
                sum: SecretVec::from_vec(sum),
                blind,
            };
            (payload.to_secret_bytes().to_vec(), dim)
        })
}

/// The encoding of a freshly generated identity card.
fn identity_card() -> impl Strategy<Value = Vec<u8>> {
    (
        "[a-z0-9._-]{1,64}",
        prop::sample::select(Role::ALL.to_vec()),
        any::<u64>(),
    )
        .prop_map(|(name, role, seed)| {
            let id = PartyId::new(&name).unwrap();
            SecretIdentity::generate(id, role, &mut ChaCha20Rng::seed_from_u64(seed))
                .card()
                .to_bytes()
        })
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the properties.

/// Decodes `bytes` with `decode`; on success, `encode` must give `bytes` back. The decoder must
/// not allocate out of proportion to the input.
fn check_canonical<T>(
    bytes: &[u8],
    decode: impl FnOnce(&[u8]) -> Option<T>,
    encode: impl FnOnce(&T) -> Vec<u8>,
) -> Result<bool, TestCaseError> {
    let (decoded, largest) = measured(|| decode(bytes));
    prop_assert!(
        largest <= allocation_bound(bytes.len()),
        "decoding {} bytes allocated {largest} bytes at once",
        bytes.len()
    );
    match decoded {
        Some(value) => {
            let again = encode(&value);
            prop_assert!(
                again == bytes,
                "accepted a non-canonical encoding:\n  input     {}\n  re-encode {}",
                hex(bytes),
                hex(&again)
            );
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Mutates a valid encoding and checks the mutant. A proper prefix of a valid encoding is never
/// itself valid (the codec is prefix-free), so a pure truncation must be refused.
fn check_mutant<T>(
    original: &[u8],
    edits: &[Mutation],
    decode: impl Fn(&[u8]) -> Option<T>,
    encode: impl Fn(&T) -> Vec<u8>,
) -> Result<(), TestCaseError> {
    prop_assert!(
        check_canonical(original, &decode, &encode)?,
        "the unmutated input must decode"
    );
    let mutant = mutate(original, edits);
    let accepted = check_canonical(&mutant, &decode, &encode)?;
    let truncated = mutant.len() < original.len() && original.starts_with(&mutant);
    prop_assert!(
        !(accepted && truncated),
        "accepted a {}-byte prefix of a {}-byte message",
        mutant.len(),
        original.len()
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_envelope(bytes: &[u8]) -> Option<Envelope> {
    Envelope::from_bytes(bytes).ok()
}

fn encode<T: Encode>(value: &T) -> Vec<u8> {
    value.to_bytes()
}

// ---------------------------------------------------------------------------------------------
// Properties.

#[test]
fn the_run_samples_every_kind() {
    for kind in KINDS {
        let bytes = RUN.samples.get(kind).unwrap_or_else(|| panic!("no {kind}"));
        let envelope = Envelope::from_bytes(bytes).unwrap();
        assert_eq!(envelope.message.kind(), kind);
    }
    assert_eq!(RUN.samples.len(), KINDS.len(), "a kind missing from KINDS");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn envelope_decodes_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_canonical(&bytes, decode_envelope, encode)?;
    }

    /// Past the version and kind bytes, so the body decoders see the arbitrary bytes.
    #[test]
    fn envelope_decodes_arbitrary_bodies(
        kind in 1u8..=11,
        rest in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = vec![1, kind];
        bytes.extend_from_slice(&rest);
        check_canonical(&bytes, decode_envelope, encode)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10000))]

    #[test]
    fn envelope_mutants(kind in prop::sample::select(KINDS.to_vec()), edits in mutations()) {
        check_mutant(&RUN.samples[kind], &edits, decode_envelope, encode)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn share_payload_m61_mutants((bytes, dim) in share_payload::<M61>(), edits in mutations()) {
        check_mutant(
            &bytes,
            &edits,
            |b| SharePayload::<M61>::from_bytes(b, dim).ok(),
            |p| p.to_secret_bytes().to_vec(),
        )?;
    }

    #[test]
    fn share_payload_ristretto_mutants(
        (bytes, dim) in share_payload::<Ristretto>(),
        edits in mutations(),
    ) {
        check_mutant(
            &bytes,
            &edits,
            |b| SharePayload::<Ristretto>::from_bytes(b, dim).ok(),
            |p| p.to_secret_bytes().to_vec(),
        )?;
    }

    #[test]
    fn result_payload_m31_mutants((bytes, dim) in result_payload::<M31>(), edits in mutations()) {
        check_mutant(
            &bytes,
            &edits,
            |b| ResultPayload::<M31>::from_bytes(b, dim).ok(),
            |p| p.to_secret_bytes().to_vec(),
        )?;
    }

    /// The dimension check holds on every accepted payload, whatever the bytes.
    #[test]
    fn payloads_decode_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        dim in 0usize..8,
    ) {
        let share = |b: &[u8]| SharePayload::<M61>::from_bytes(b, dim).ok();
        let shape = |p: &SharePayload<M61>| match &p.share {
            ShareValue::Explicit(v) => v.len() == dim,
            ShareValue::Seeded(_) => true,
        };
        if check_canonical(&bytes, share, |p| p.to_secret_bytes().to_vec())? {
            prop_assert!(shape(&share(&bytes).unwrap()));
        }
        let result = |b: &[u8]| ResultPayload::<M31>::from_bytes(b, dim).ok();
        if check_canonical(&bytes, result, |p| p.to_secret_bytes().to_vec())? {
            prop_assert_eq!(result(&bytes).unwrap().sum.len(), dim);
        }
    }

    #[test]
    fn identity_card_mutants(bytes in identity_card(), edits in mutations()) {
        check_mutant(&bytes, &edits, |b| decode_exact::<IdentityCard>(b).ok(), encode)?;
    }
}
