//! X25519 for the Noise handshake, on curve25519-dalek 5.
//!
//! snow's own X25519 is the Montgomery ladder on 64-bit limbs (about 45 µs here). The same function
//! computed through the birationally equivalent Edwards curve uses dalek's vectorised
//! (AVX2 / AVX-512 IFMA) variable-base multiplication and costs about 27 µs, and a handshake does
//! three on each side. A `u` on the twist has no Edwards point; it goes through the ladder, so the
//! result is RFC 7748's X25519 for every input (a property test checks both paths against the
//! ladder). The branch depends only on the peer's public key, never on a secret. Everything else
//! (AES-GCM, SHA-256, the RNG) comes from ring.

use std::cell::RefCell;

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{BoxedCryptoResolver, CryptoResolver, RingResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use zeroize::Zeroizing;

/// The resolver every handshake uses: this module's X25519, ring for the rest. `static_public`
/// is the public half of the static key the handshake will be given, if the caller knows it:
/// then setting the static key costs nothing instead of a fixed-base multiplication. (A public
/// half that does not match the secret fails the handshake: the peer's Diffie-Hellman results
/// then differ from ours.)
pub(super) fn resolver(static_public: Option<[u8; 32]>) -> BoxedCryptoResolver {
    Box::new(Resolver { static_public })
}

struct Resolver {
    static_public: Option<[u8; 32]>,
}

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        RingResolver.resolve_rng()
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::new(X25519 {
                known_public: self.static_public,
                ..X25519::default()
            })),
            DHChoice::Curve448 => None,
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        RingResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        RingResolver.resolve_cipher(choice)
    }
}

/// One X25519 key pair, as snow's `Dh` (the secret is wiped on drop).
#[derive(Default)]
struct X25519 {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
    /// The public half of the key [`Dh::set`] will be given, if known.
    known_public: Option<[u8; 32]>,
}

impl X25519 {
    fn derive_public(&mut self) {
        self.public = MontgomeryPoint::mul_base_clamped(*self.secret).to_bytes();
    }
}

impl Dh for X25519 {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        32
    }

    fn priv_len(&self) -> usize {
        32
    }

    fn set(&mut self, privkey: &[u8]) {
        let len = privkey.len().min(32);
        *self.secret = [0; 32];
        self.secret[..len].copy_from_slice(&privkey[..len]);
        match self.known_public {
            Some(public) => self.public = public,
            None => self.derive_public(),
        }
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        rng.try_fill_bytes(self.secret.as_mut())?;
        self.derive_public();
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        self.secret.as_ref()
    }

    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let public: [u8; 32] = pubkey
            .get(..32)
            .and_then(|k| k.try_into().ok())
            .ok_or(snow::Error::Dh)?;
        let shared = x25519(&self.secret, &public);
        out.get_mut(..32)
            .ok_or(snow::Error::Dh)?
            .copy_from_slice(&shared);
        Ok(())
    }
}

/// RFC 7748's X25519(`secret`, `public`): through the Edwards form when `public` is the
/// u-coordinate of a curve point (either sign gives the same u-coordinate of the product), by the
/// Montgomery ladder when it lies on the twist.
pub(crate) fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    match edwards_form(public) {
        Some(edwards) => edwards.mul_clamped(*secret).to_montgomery().to_bytes(),
        None => MontgomeryPoint(*public).mul_clamped(*secret).to_bytes(),
    }
}

/// How many public keys' Edwards forms each thread remembers.
const CACHED_KEYS: usize = 4;

/// Recently converted public keys and their Edwards forms (`None`: on the twist), and the slot
/// the next one replaces.
type EdwardsCache = (
    [(Option<[u8; 32]>, Option<EdwardsPoint>); CACHED_KEYS],
    usize,
);

thread_local! {
    static EDWARDS_FORMS: RefCell<EdwardsCache> = const { RefCell::new(([(None, None); CACHED_KEYS], 0)) };
}

/// The Edwards point with u-coordinate `public`, if it is on the curve. Converting costs two
/// field exponentiations (an inversion and a square root), and a handshake uses each side's
/// ephemeral key twice, while a client meets the same server's static key again and again: so
/// each thread keeps its last few conversions. They are of public keys only.
fn edwards_form(public: &[u8; 32]) -> Option<EdwardsPoint> {
    EDWARDS_FORMS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let (entries, next) = &mut *cache;
        if let Some((_, point)) = entries.iter().find(|(key, _)| key.as_ref() == Some(public)) {
            return *point;
        }
        let point = MontgomeryPoint(*public).to_edwards(0);
        entries[*next] = (Some(*public), point);
        *next = (*next + 1) % CACHED_KEYS;
        point
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ladder(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
        MontgomeryPoint(*public).mul_clamped(*secret).to_bytes()
    }

    fn le(hex: &str) -> [u8; 32] {
        let mut bytes: [u8; 32] = hex::decode(hex).unwrap().try_into().unwrap();
        bytes.reverse();
        bytes
    }

    proptest! {
        /// Random 32-byte strings: about half are curve points, half twist points, some have the
        /// top bit set or are not reduced.
        #[test]
        fn equals_the_ladder_for_any_input(secret: [u8; 32], public: [u8; 32]) {
            prop_assert_eq!(x25519(&secret, &public), ladder(&secret, &public));
        }
    }

    #[test]
    fn equals_the_ladder_on_low_order_and_boundary_inputs() {
        let p = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed";
        let specials = [
            [0u8; 32],
            le("0000000000000000000000000000000000000000000000000000000000000001"),
            // Points of order 8 (RFC 7748 / libsodium's blocklist).
            le("00b8495f16056286fdb1329ceb8d09da6ac49ff1fae35616aeb8413b7c7aebe0"),
            le("57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5f"),
            // p - 1 (rejected by the Edwards map), p, p + 1 and 2^255 - 1 (not reduced).
            le("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffec"),
            le(p),
            le("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffee"),
            le("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            [0xff; 32],
        ];
        for public in specials {
            for secret in [[0u8; 32], [0x5a; 32], [0xff; 32]] {
                assert_eq!(
                    x25519(&secret, &public),
                    ladder(&secret, &public),
                    "{public:02x?}"
                );
            }
        }
    }

    /// Keys met again (the cache) and keys that pushed others out give the ladder's answers.
    #[test]
    fn remembered_conversions_give_the_same_results() {
        let publics: Vec<[u8; 32]> = (1..=2 * CACHED_KEYS as u8 + 1)
            .map(|i| MontgomeryPoint::mul_base_clamped([i; 32]).to_bytes())
            .chain([[0xff; 32], [0u8; 32]])
            .collect();
        for round in 0..3u8 {
            for (i, public) in publics.iter().enumerate() {
                for again in 0..2u8 {
                    let secret = [round ^ again ^ i as u8; 32];
                    assert_eq!(x25519(&secret, public), ladder(&secret, public));
                }
            }
        }
    }

    /// A known public half is taken as given for the static key; generated keys derive theirs.
    #[test]
    fn a_known_public_half_is_used_for_the_static_key_only() {
        // A value no derivation gives, so the assertion shows it was taken as given.
        let given = [9; 32];
        assert_ne!(given, MontgomeryPoint::mul_base_clamped([7; 32]).to_bytes());
        let mut dh = X25519 {
            known_public: Some(given),
            ..X25519::default()
        };
        dh.set(&[7; 32]);
        assert_eq!(dh.pubkey(), given);
        let mut rng = RingResolver.resolve_rng().unwrap();
        dh.generate(&mut *rng).unwrap();
        let secret: [u8; 32] = dh.privkey().try_into().unwrap();
        assert_eq!(
            dh.pubkey(),
            MontgomeryPoint::mul_base_clamped(secret).to_bytes()
        );
    }

    /// RFC 7748 §5.2, first test vector.
    #[test]
    fn rfc7748_vector() {
        let secret: [u8; 32] =
            hex::decode("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
                .unwrap()
                .try_into()
                .unwrap();
        let public: [u8; 32] =
            hex::decode("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(
            hex::encode(x25519(&secret, &public)),
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
        );
    }

    /// A public key shorter than 32 bytes is an error, not a panic.
    #[test]
    fn a_short_public_key_is_refused() {
        let mut dh = X25519::default();
        dh.set(&[7; 32]);
        let mut out = [0u8; 32];
        assert!(matches!(dh.dh(&[1; 31], &mut out), Err(snow::Error::Dh)));
        assert_eq!(
            dh.pubkey(),
            MontgomeryPoint::mul_base_clamped([7; 32]).to_bytes()
        );
    }
}
