//! Signed payloads: `Signed<T>` carries a body, the id of the party that signed it and an Ed25519
//! signature over `"dsmpc/v1/sig/" ‖ T::LABEL ‖ 0x00 ‖ task id ‖ signer ‖ body`.
//!
//! The label separates message types, the task id binds a signature to one task, and the signer's
//! id is inside the signed bytes, so a signature can be neither moved to another message type,
//! replayed into another task, nor claimed by another party. The signer can differ from the party
//! that sends the envelope: the cloud relays bundles signed by data providers.

use ed25519_dalek::Signature;
use rand_core::CryptoRng;
use rayon::prelude::*;

use crate::Error;
use crate::codec::{CodecError, Decode, Encode, Reader, Writer};
use crate::crypto::signature::{self, SignatureCheck};
use crate::identity::{PartyId, Role, SecretIdentity, Signers};
use crate::task::TaskId;

/// A body type that travels signed.
pub trait Signable: Encode + Decode {
    /// Domain-separation label of this body type.
    const LABEL: &'static str;
}

/// A body with its signer and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    /// The party that signed.
    pub signer: PartyId,
    /// The signed content.
    pub body: T,
    /// Ed25519 signature over the signing input.
    pub signature: Signature,
}

/// From this many items on, [`Signed::verify_all`] encodes the signing inputs on rayon's
/// threads; fewer are encoded on the caller's, where a hand-off would cost more than it saves.
const PARALLEL_INPUTS: usize = 64;

fn signing_input<T: Signable>(task: &TaskId, signer: &PartyId, body: &T) -> Vec<u8> {
    let mut w = Writer::new();
    w.fixed(b"dsmpc/v1/sig/");
    w.fixed(T::LABEL.as_bytes());
    w.u8(0);
    task.encode(&mut w);
    signer.encode(&mut w);
    body.encode(&mut w);
    w.into_bytes()
}

impl<T: Signable> Signed<T> {
    /// Signs `body` for `task` as `identity`.
    pub fn sign(task: &TaskId, identity: &SecretIdentity, body: T) -> Signed<T> {
        let signature = identity.sign(&signing_input(task, identity.id(), &body));
        Signed {
            signer: identity.id().clone(),
            body,
            signature,
        }
    }

    /// Checks that `signers` knows the signer with `role` and that the signature is valid for
    /// `task`.
    pub fn verify<S: Signers + ?Sized>(
        &self,
        task: &TaskId,
        signers: &S,
        role: Role,
    ) -> Result<(), Error> {
        let key = signers.verifying_key(&self.signer, role)?;
        let check = SignatureCheck {
            key: &key,
            message: &signing_input(task, &self.signer, &self.body),
            signature: &self.signature,
        };
        if signature::verify(&check) {
            Ok(())
        } else {
            Err(Error::BadSignature {
                signer: self.signer.clone(),
            })
        }
    }

    /// `true` if `signers` knows every item's signer with `role` and every signature is valid
    /// for `task`: one batch check (see [`crate::crypto::signature::verify_batch`]), which
    /// accepts exactly what [`Signed::verify`] accepts item by item. When it is `false`, check
    /// the items one at a time with [`Signed::verify`] to learn which failed and why.
    pub fn verify_all<S: Signers + Sync + ?Sized, R: CryptoRng + ?Sized>(
        items: &[&Signed<T>],
        task: &TaskId,
        signers: &S,
        role: Role,
        rng: &mut R,
    ) -> bool
    where
        T: Sync,
    {
        let triples: Vec<(&TaskId, &Signed<T>, &S)> =
            items.iter().map(|item| (task, *item, signers)).collect();
        Self::batch_holds(&triples, role, rng)
    }

    /// The verdicts of [`Signed::verify`] on every `(task, item, signers)` triple — items of
    /// different tasks, with their own signers, may be mixed —, in order, reached with one batch
    /// check when every signature is valid; only when the batch fails is each item checked
    /// alone, to name the failures.
    pub fn verify_each<S: Signers + Sync + ?Sized, R: CryptoRng + ?Sized>(
        items: &[(&TaskId, &Signed<T>, &S)],
        role: Role,
        rng: &mut R,
    ) -> Vec<Result<(), Error>>
    where
        T: Sync,
    {
        if Self::batch_holds(items, role, rng) {
            return items.iter().map(|_| Ok(())).collect();
        }
        items
            .iter()
            .map(|(task, item, signers)| item.verify(task, *signers, role))
            .collect()
    }

    /// One batch check of every `(task, item, signers)` triple: `true` if every signer is known
    /// with `role` and every signature is valid for its task.
    fn batch_holds<S: Signers + Sync + ?Sized, R: CryptoRng + ?Sized>(
        items: &[(&TaskId, &Signed<T>, &S)],
        role: Role,
        rng: &mut R,
    ) -> bool
    where
        T: Sync,
    {
        let mut keys = Vec::with_capacity(items.len());
        for (_, item, signers) in items {
            match signers.verifying_key(&item.signer, role) {
                Ok(key) => keys.push(key),
                Err(_) => return false,
            }
        }
        let input = |(task, item, _): &(&TaskId, &Signed<T>, &S)| {
            signing_input(task, &item.signer, &item.body)
        };
        let inputs: Vec<Vec<u8>> = match items.len() < PARALLEL_INPUTS {
            true => items.iter().map(input).collect(),
            false => items.par_iter().map(input).collect(),
        };
        let checks: Vec<_> = items
            .iter()
            .zip(&keys)
            .zip(&inputs)
            .map(|(((_, item, _), key), message)| SignatureCheck {
                key,
                message,
                signature: &item.signature,
            })
            .collect();
        signature::verify_batch(&checks, rng)
    }
}

impl<T: Signable> Encode for Signed<T> {
    fn encode(&self, w: &mut Writer) {
        self.signer.encode(w);
        self.body.encode(w);
        w.fixed(&self.signature.to_bytes());
    }
}

impl<T: Signable> Decode for Signed<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let signer = PartyId::decode(r)?;
        let body = T::decode(r)?;
        let signature = Signature::from_bytes(&r.array("signature")?);
        Ok(Signed {
            signer,
            body,
            signature,
        })
    }
}
