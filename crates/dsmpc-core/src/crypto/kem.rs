//! Per-recipient encryption: a Diffie–Hellman KEM over ristretto255 with HKDF-SHA256 and
//! AES-256-GCM, whose per-message shared secret can be revealed for a verifiable complaint.
//!
//! To seal a message to a recipient with public key `PK = sk·B`, the sender draws a fresh
//! ephemeral scalar `e`, sends `E = e·B`, and computes the shared secret `Z = e·PK` (the recipient
//! computes the same `Z = sk·E`). A 32-byte AES key and a 12-byte GCM nonce come from
//!
//! ```text
//! HKDF-SHA256(salt = "dsmpc/v1/kem", ikm = compress(Z), info = E ‖ PK ‖ context, L = 44)
//!   = key (32 bytes) ‖ nonce (12 bytes)
//! ```
//!
//! with `E` and `PK` as 32-byte compressed encodings, and the plaintext is encrypted with
//! AES-256-GCM under associated data `context`. The sealed box is `E ‖ ciphertext ‖ tag`.
//!
//! **Nonces.** The nonce is derived, not random, which is safe because no two messages are ever
//! sealed under the same key: [`seal`] draws a new `e` each call, and [`seal_to_all`], which
//! seals one message to each of several recipients under one `e`, derives each box's key from its
//! own `Z` and context (and falls back to one `e` per message should two messages have the same
//! recipient and context). Never reuse an ephemeral scalar otherwise.
//!
//! **Revealing a message.** `Z` depends on the ephemeral key, so revealing it (with a
//! [`crate::crypto::dleq`] proof that it is `sk·E`) lets anyone decrypt that one message with
//! [`open_with_shared_secret`] and tells them nothing about `sk` or any other message.

use std::collections::HashSet;
use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Key, KeyInit, Nonce};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{CryptoError, canonical_scalar, decompress_non_identity, hex, random_nonzero_scalar};

/// HKDF salt of the KEM; the version is part of it.
const KEM_SALT: &[u8] = b"dsmpc/v1/kem";
/// Length of the AES-256 key.
const KEY_LEN: usize = 32;
/// Length of the GCM nonce.
const NONCE_LEN: usize = 12;
/// Length of the GCM tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// A recipient's secret key: a nonzero scalar, kept with its public key (computed once, since
/// every [`open`] needs the public key's encoding and recomputing it costs a fixed-base
/// multiplication and a compression). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KemSecretKey {
    scalar: Scalar,
    /// `scalar·B` and its encoding: public, but wiped with the scalar anyway.
    public_point: RistrettoPoint,
    public: [u8; 32],
}

impl KemSecretKey {
    /// A fresh uniformly random secret key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_scalar(random_nonzero_scalar(rng))
    }

    fn from_scalar(scalar: Scalar) -> Self {
        let public_point = RistrettoPoint::mul_base(&scalar);
        let public = public_point.compress().to_bytes();
        KemSecretKey {
            scalar,
            public_point,
            public,
        }
    }

    /// The public key `sk·B`.
    pub fn public_key(&self) -> KemPublicKey {
        KemPublicKey {
            point: self.public_point,
            compressed: CompressedRistretto(self.public),
        }
    }

    /// The canonical 32-byte little-endian encoding (for storing the key; handle as a secret).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.scalar.to_bytes()
    }

    /// Decodes a secret key; refuses non-canonical encodings and zero.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let s = canonical_scalar(bytes)?;
        if s == Scalar::ZERO {
            return Err(CryptoError::InvalidScalar);
        }
        Ok(Self::from_scalar(s))
    }

    /// The scalar, for the proofs in [`crate::crypto::dleq`].
    pub(crate) fn scalar(&self) -> &Scalar {
        &self.scalar
    }
}

impl fmt::Debug for KemSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KemSecretKey(<redacted>)")
    }
}

/// A recipient's public key: a ristretto255 point other than the identity, kept together with its
/// compressed encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct KemPublicKey {
    point: RistrettoPoint,
    compressed: CompressedRistretto,
}

impl KemPublicKey {
    /// The 32-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.compressed.to_bytes()
    }

    /// Decodes a public key; refuses non-canonical encodings and the identity.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        decompress_non_identity(bytes).map(|point| KemPublicKey {
            point,
            compressed: CompressedRistretto(*bytes),
        })
    }

    /// The point.
    pub fn point(&self) -> &RistrettoPoint {
        &self.point
    }
}

impl fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KemPublicKey({})", hex(self.compressed.as_bytes()))
    }
}

/// The Diffie–Hellman value `Z = sk·E = e·PK` of one sealed message. Whoever holds it can open
/// that message, so it is zeroized on drop and never printed; a recipient reveals it only with a
/// [`crate::crypto::dleq`] proof, to complain about what it received.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret(RistrettoPoint);

impl SharedSecret {
    /// The 32-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.compress().to_bytes()
    }

    /// Decodes a revealed shared secret; refuses non-canonical encodings and the identity (which
    /// no honest key pair produces).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        decompress_non_identity(bytes).map(SharedSecret)
    }

    /// Wraps a point computed as `sk·E`.
    pub(crate) fn from_point(point: RistrettoPoint) -> Self {
        SharedSecret(point)
    }

    /// The point.
    pub(crate) fn point(&self) -> &RistrettoPoint {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// A sealed message: the ephemeral public key and the AES-256-GCM ciphertext with its 16-byte tag
/// appended. On the wire it is `ephemeral (32 bytes) ‖ ciphertext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBox {
    /// The compressed ephemeral point `E = e·B`.
    pub ephemeral: [u8; 32],
    /// The ciphertext followed by the [`TAG_LEN`]-byte tag.
    pub ciphertext: Vec<u8>,
}

/// The AES key and GCM nonce of one message; zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct MessageKey {
    key: [u8; KEY_LEN],
    nonce: [u8; NONCE_LEN],
}

impl MessageKey {
    /// HKDF-SHA256 with salt [`KEM_SALT`], ikm `compress(Z)` and info `E ‖ PK ‖ context`.
    fn derive(
        shared: &RistrettoPoint,
        ephemeral: &[u8; 32],
        recipient: &[u8; 32],
        context: &[u8],
    ) -> Self {
        let ikm = Zeroizing::new(shared.compress().to_bytes());
        MessageKey::derive_from_encoding(&ikm, ephemeral, recipient, context)
    }

    /// [`MessageKey::derive`] from `compress(Z)`, already computed.
    fn derive_from_encoding(
        ikm: &[u8; 32],
        ephemeral: &[u8; 32],
        recipient: &[u8; 32],
        context: &[u8],
    ) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(KEM_SALT), ikm.as_slice());
        let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
        hkdf.expand_multi_info(&[ephemeral, recipient, context], okm.as_mut_slice())
            .expect("44 bytes is far below HKDF-SHA256's output limit of 8160 bytes");
        let mut out = MessageKey {
            key: [0; KEY_LEN],
            nonce: [0; NONCE_LEN],
        };
        out.key.copy_from_slice(&okm[..KEY_LEN]);
        out.nonce.copy_from_slice(&okm[KEY_LEN..]);
        out
    }

    fn cipher(&self) -> Aes256Gcm {
        let key: &Key<Aes256Gcm> = (&self.key).into();
        Aes256Gcm::new(key)
    }

    fn nonce(&self) -> &Nonce<Aes256Gcm> {
        (&self.nonce).into()
    }
}

/// Encrypts `plaintext` to `recipient`, binding `context` (authenticated, not encrypted; the
/// receiver must pass the same bytes). Draws a fresh ephemeral key from `rng`.
///
/// # Panics
///
/// If `plaintext` is longer than AES-GCM's limit of 2^36 − 32 bytes (64 GiB), far beyond any
/// message dsmpc sends.
pub fn seal<R: CryptoRng + ?Sized>(
    recipient: &KemPublicKey,
    context: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> SealedBox {
    seal_with(recipient, context, plaintext, Ephemeral::generate(rng))
}

/// A fresh ephemeral scalar for one [`seal_with`]: drawn where the generator is at hand, used
/// (and wiped) where the sealing happens, e.g. on another thread. Not `Clone`, and consumed by
/// the one call that uses it, so it cannot encrypt two messages.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Ephemeral(Scalar);

impl Ephemeral {
    /// A fresh nonzero ephemeral scalar.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Ephemeral(random_nonzero_scalar(rng))
    }
}

impl fmt::Debug for Ephemeral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ephemeral(<redacted>)")
    }
}

/// [`seal`] with an ephemeral scalar drawn beforehand.
///
/// # Panics
///
/// As [`seal`].
pub fn seal_with(
    recipient: &KemPublicKey,
    context: &[u8],
    plaintext: &[u8],
    ephemeral_key: Ephemeral,
) -> SealedBox {
    let e = &ephemeral_key.0;
    let ephemeral = RistrettoPoint::mul_base(e).compress().to_bytes();
    let mut shared = e * recipient.point;
    drop(ephemeral_key);
    let key = MessageKey::derive(&shared, &ephemeral, &recipient.to_bytes(), context);
    shared.zeroize();
    encrypt(&key, context, plaintext, ephemeral)
}

/// The shared secret `sk·E` of the sealed message with ephemeral key `ephemeral`; refuses
/// non-canonical encodings and the identity.
pub fn shared_secret(sk: &KemSecretKey, ephemeral: &[u8; 32]) -> Result<SharedSecret, CryptoError> {
    let e = decompress_non_identity(ephemeral)?;
    Ok(SharedSecret(sk.scalar * e))
}

/// One message of [`seal_batch`]: its recipient, context and plaintext.
#[derive(Clone, Copy)]
pub struct Message<'a> {
    /// Who can open it.
    pub recipient: &'a KemPublicKey,
    /// Bound as associated data.
    pub context: &'a [u8],
    /// What is encrypted.
    pub plaintext: &'a [u8],
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("recipient", self.recipient)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

/// `2⁻¹ mod ℓ` = (ℓ + 1) / 2, little-endian.
const HALF_BYTES: [u8; 32] = [
    0xf7, 0xe9, 0x7a, 0x2e, 0x8d, 0x31, 0x09, 0x2c, 0x6b, 0xce, 0x7b, 0x51, 0xef, 0x7c, 0x6f, 0x0a,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
];

/// `2⁻¹ mod ℓ`.
fn half() -> Scalar {
    Scalar::from_bytes_mod_order(HALF_BYTES)
}

/// [`seal_with`] on several messages, each with its own ephemeral scalar: the same boxes, byte
/// for byte, for less work. A box needs the encodings of two points, `E = e·B` and `Z = e·PK`,
/// and each encoding costs an inverse square root; here every point is computed as twice the
/// point of the halved scalar, and the doubles of all `2n` points are encoded together
/// (`RistrettoPoint::double_and_compress_batch`: one field inversion for the batch, constant
/// time). Ephemerals beyond the messages are dropped unused, and messages beyond the
/// ephemerals are not sealed.
///
/// # Panics
///
/// As [`seal`].
pub fn seal_batch(messages: &[Message<'_>], ephemerals: Vec<Ephemeral>) -> Vec<SealedBox> {
    let n = messages.len().min(ephemerals.len());
    let half = half();
    let mut halves: Vec<Scalar> = ephemerals.iter().take(n).map(|e| e.0 * half).collect();
    drop(ephemerals);
    let mut points: Vec<RistrettoPoint> = Vec::with_capacity(2 * n);
    points.extend(halves.iter().map(RistrettoPoint::mul_base));
    points.extend(
        halves
            .iter()
            .zip(messages)
            .map(|(h, m)| h * m.recipient.point),
    );
    halves.zeroize();
    let encodings = encode_doubles(points);
    let (ephemeral_keys, shared) = encodings.split_at(n);
    encrypt_each(messages, ephemeral_keys, shared)
}

/// [`seal_batch`] under one ephemeral scalar for all the messages (a multi-recipient KEM):
/// `E = e·B` is computed and encoded once and repeated in every box, and each box's key and nonce
/// come from its own `Z = e·PK` with the recipient's key and the message's context in the HKDF
/// info. Each box is byte for byte [`seal_with`]'s for its message under the shared scalar, so
/// recipients open them as any other. The `n + 1` encodings share one field inversion, as in
/// [`seal_batch`]; against it, this saves `n − 1` fixed-base multiplications and encodings.
///
/// Sharing `e` is safe because no two boxes share a key: their `Z`s are `e·PK` for different
/// keys, or their contexts differ (this is the randomness-reusing multi-recipient construction of
/// Bellare, Boldyreva, Kurosawa and Staddon, 2007). Revealing one box's `Z` for a complaint
/// opens that box alone: another recipient's `Z' = e·PK'` stays a Diffie–Hellman secret. Should
/// two messages have the same recipient and context, every message gets its own ephemeral scalar
/// instead ([`seal_batch`]), so that no (key, nonce) pair is ever used twice.
///
/// # Panics
///
/// As [`seal`].
pub fn seal_to_all<R: CryptoRng + ?Sized>(messages: &[Message<'_>], rng: &mut R) -> Vec<SealedBox> {
    if messages.is_empty() {
        return Vec::new();
    }
    if !each_key_once(messages) {
        let ephemerals = messages.iter().map(|_| Ephemeral::generate(rng)).collect();
        return seal_batch(messages, ephemerals);
    }
    let mut half_e = Ephemeral::generate(rng).0 * half();
    let mut points: Vec<RistrettoPoint> = Vec::with_capacity(messages.len() + 1);
    points.push(RistrettoPoint::mul_base(&half_e));
    points.extend(messages.iter().map(|m| half_e * m.recipient.point));
    half_e.zeroize();
    let encodings = encode_doubles(points);
    let (ephemeral, shared) = encodings.split_at(1);
    encrypt_each(
        messages,
        std::iter::repeat_n(&ephemeral[0], shared.len()),
        shared,
    )
}

/// The encodings of twice each point, computed together (`double_and_compress_batch`: one
/// constant-time field inversion for all); the points and their encodings are wiped when done
/// with.
fn encode_doubles(mut points: Vec<RistrettoPoint>) -> Zeroizing<Vec<[u8; 32]>> {
    let mut compressed = RistrettoPoint::double_and_compress_batch(&points);
    points.zeroize();
    let encodings = compressed.iter().map(|c| c.to_bytes()).collect();
    compressed.zeroize();
    Zeroizing::new(encodings)
}

/// Encrypts each message under the key derived from its ephemeral key's encoding and its shared
/// secret's encoding (the second half of [`seal_with`]).
fn encrypt_each<'e>(
    messages: &[Message<'_>],
    ephemerals: impl IntoIterator<Item = &'e [u8; 32]>,
    shared: &[[u8; 32]],
) -> Vec<SealedBox> {
    messages
        .iter()
        .zip(ephemerals.into_iter().zip(shared))
        .map(|(m, (ephemeral, shared))| {
            let recipient = m.recipient.to_bytes();
            let key = MessageKey::derive_from_encoding(shared, ephemeral, &recipient, m.context);
            encrypt(&key, m.context, m.plaintext, *ephemeral)
        })
        .collect()
}

/// Whether no two messages have the same recipient and context (and would get the same key and
/// nonce under one ephemeral scalar).
fn each_key_once(messages: &[Message<'_>]) -> bool {
    let mut seen = HashSet::with_capacity(messages.len());
    messages
        .iter()
        .all(|m| seen.insert((m.recipient.to_bytes(), m.context)))
}

/// The AEAD half of sealing.
fn encrypt(key: &MessageKey, context: &[u8], plaintext: &[u8], ephemeral: [u8; 32]) -> SealedBox {
    let mut ciphertext = Vec::with_capacity(plaintext.len() + TAG_LEN);
    ciphertext.extend_from_slice(plaintext);
    if key
        .cipher()
        .encrypt_in_place(key.nonce(), context, &mut ciphertext)
        .is_err()
    {
        ciphertext.zeroize();
        panic!("plaintext exceeds AES-GCM's 64 GiB limit");
    }
    SealedBox {
        ephemeral,
        ciphertext,
    }
}

/// Decrypts a box sealed to `sk`'s public key under `context`.
///
/// Decompresses the ephemeral key once (checking it as [`open_with_shared_secret`] does) and uses
/// the public key stored with `sk`.
pub fn open(
    sk: &KemSecretKey,
    context: &[u8],
    sealed: &SealedBox,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let shared = shared_secret(sk, &sealed.ephemeral)?;
    decrypt(&shared, &sk.public, context, sealed)
}

/// [`open`] on several boxes sealed to `sk`'s public key, each under its own context: the same
/// results, in order, for less work. Each box needs the encoding of its shared secret `Z = sk·E`
/// (an inverse square root); here `Z` is computed as twice `(sk/2)·E` and the doubles are encoded
/// together (`RistrettoPoint::double_and_compress_batch`, one constant-time inversion for the
/// batch). A box whose ephemeral key does not decode is refused alone.
pub fn open_batch(
    sk: &KemSecretKey,
    boxes: &[(&[u8], &SealedBox)],
) -> Vec<Result<Zeroizing<Vec<u8>>, CryptoError>> {
    let ephemerals: Vec<Result<RistrettoPoint, CryptoError>> = boxes
        .iter()
        .map(|(_, sealed)| decompress_non_identity(&sealed.ephemeral))
        .collect();
    let mut half_sk = sk.scalar * half();
    let points: Vec<RistrettoPoint> = ephemerals
        .iter()
        .filter_map(|e| e.as_ref().ok())
        .map(|e| half_sk * e)
        .collect();
    half_sk.zeroize();
    let shared = encode_doubles(points);
    let mut next = shared.iter();
    boxes
        .iter()
        .zip(&ephemerals)
        .map(|((context, sealed), ephemeral)| {
            ephemeral.as_ref().map_err(Clone::clone)?;
            let z = next.next().ok_or(CryptoError::DecryptionFailed)?;
            decrypt_with_encoding(z, &sk.public, context, sealed)
        })
        .collect()
}

/// Decrypts a box sealed to `recipient` given the message's shared secret: how an auditor reads a
/// message whose shared secret the recipient revealed (and proved, see [`crate::crypto::dleq`]).
pub fn open_with_shared_secret(
    shared: &SharedSecret,
    recipient: &KemPublicKey,
    context: &[u8],
    sealed: &SealedBox,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    decompress_non_identity(&sealed.ephemeral)?;
    decrypt(shared, &recipient.to_bytes(), context, sealed)
}

/// The AEAD half of opening, once the ephemeral key has been checked and `Z` computed.
fn decrypt(
    shared: &SharedSecret,
    recipient: &[u8; 32],
    context: &[u8],
    sealed: &SealedBox,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let z = Zeroizing::new(shared.0.compress().to_bytes());
    decrypt_with_encoding(&z, recipient, context, sealed)
}

/// [`decrypt`] given `compress(Z)`.
fn decrypt_with_encoding(
    z: &[u8; 32],
    recipient: &[u8; 32],
    context: &[u8],
    sealed: &SealedBox,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.ciphertext.len() < TAG_LEN {
        return Err(CryptoError::DecryptionFailed);
    }
    let key = MessageKey::derive_from_encoding(z, &sealed.ephemeral, recipient, context);
    let mut buffer = Zeroizing::new(sealed.ciphertext.clone());
    key.cipher()
        .decrypt_in_place(key.nonce(), context, &mut *buffer)
        .map_err(|_| CryptoError::DecryptionFailed)?;
    Ok(buffer)
}

#[cfg(test)]
mod tests;
