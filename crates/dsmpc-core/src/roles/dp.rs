//! The data provider (Algorithm 2): encode the input, share it, commit to the sharing polynomials
//! (verifiable mode), seal each share to its CP and sign the bundle.
//!
//! Sharing is split in two steps, [`Dp::prepare`] and [`Dp::seal`], so that tests can tamper with
//! one share between them and play a cheating DP.

use std::sync::Arc;

use rand_core::CryptoRng;

use crate::Error;
use crate::crypto::kem;
use crate::crypto::pedersen::{self, Generators, ValueRange};
use crate::encoding::Encoding;
use crate::field::{Field, FieldId};
use crate::identity::{Role, Roster, SecretIdentity};
use crate::polynomial::horner;
use crate::round1::Committee;
use crate::round2::{Bundle, BundleCore, SHARE_PURPOSE, SharePayload, share_digest};
use crate::sharing::{self, ShareValue, VectorPolynomial};
use crate::signed::Signed;
use crate::task::{DpEntry, Mode, Task};
use crate::wire::seal_context;

/// A data provider's long-term state.
#[derive(Debug, Clone)]
pub struct Dp {
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
}

/// Shares made but not yet sealed: one payload per CP (index i at position i-1) and the
/// commitments (verifiable mode).
#[derive(Debug)]
pub struct PreparedShares<F: Field> {
    /// Compressed Pedersen commitments `C_0..C_{t-1}`.
    pub commitments: Vec<[u8; 32]>,
    /// The plaintext for each CP.
    pub payloads: Vec<SharePayload<F>>,
}

impl Dp {
    /// A data provider with these keys, trusting this roster.
    pub fn new(identity: Arc<SecretIdentity>, roster: Arc<Roster>) -> Dp {
        Dp { identity, roster }
    }

    /// Checks the task and committee and that this DP may contribute: `entry` (its weight, as
    /// the cloud serves it) must be proven in the list the signed task commits to.
    pub fn check_setup(
        &self,
        task: &Signed<Task>,
        committee: &Signed<Committee>,
        entry: &DpEntry,
    ) -> Result<(), Error> {
        super::verify_setup(&self.roster, task, committee)?;
        if task.body.verify_entry(self.identity.id(), entry).is_none() {
            return Err(Error::ProtocolViolation {
                task: task.body.id,
                reason: format!("{} is not a data provider of this task", self.identity.id()),
            });
        }
        if entry.key != self.identity.card().verifying_key.to_bytes() {
            return Err(Error::ProtocolViolation {
                task: task.body.id,
                reason: format!(
                    "the signed task lists another verifying key for {} than this DP's own: the \
                     cloud's registry holds a different key for it",
                    self.identity.id()
                ),
            });
        }
        Ok(())
    }

    /// Encodes `input` (mantissas at the task's input scale) and shares it.
    pub fn prepare<F: Field, R: CryptoRng + ?Sized>(
        &self,
        task: &Task,
        input: &[i128],
        gens: Option<&Generators>,
        rng: &mut R,
    ) -> Result<PreparedShares<F>, Error> {
        super::check_field::<F>(task, gens)?;
        if input.len() != task.dim() {
            return Err(Error::InvalidDimension {
                dim: input.len(),
                max: task.dim(),
            });
        }
        let secret = input
            .iter()
            .map(|&x| task.plan.encode_input::<F>(x))
            .collect::<Result<Vec<F>, _>>()?;
        match (task.params.mode, gens) {
            (Mode::Verifiable, Some(gens)) => Self::prepare_verifiable(task, &secret, gens, rng),
            _ => Self::prepare_fast(task, &secret, rng),
        }
    }

    fn prepare_fast<F: Field, R: CryptoRng + ?Sized>(
        task: &Task,
        secret: &[F],
        rng: &mut R,
    ) -> Result<PreparedShares<F>, Error> {
        let shares = sharing::share(secret, task.scheme(), true, rng)?;
        let payloads = shares
            .into_iter()
            .map(|s| SharePayload {
                share: s.value,
                blind: None,
            })
            .collect();
        Ok(PreparedShares {
            commitments: Vec::new(),
            payloads,
        })
    }

    fn prepare_verifiable<F: Field, R: CryptoRng + ?Sized>(
        task: &Task,
        secret: &[F],
        gens: &Generators,
        rng: &mut R,
    ) -> Result<PreparedShares<F>, Error> {
        let t = task.params.t;
        let poly = VectorPolynomial::random(secret, t, rng);
        let blinding: Vec<F> = (0..t).map(|_| F::random(rng)).collect();
        // The constant coefficients are the inputs, which lie in the task's declared range: their
        // commitment takes the short constant-time path.
        let input_range = match task.plan.encoding {
            Encoding::Exact { range, .. } => ValueRange::of_integers(range.min, range.max),
            Encoding::Modular { .. } => None,
        };
        let commitments = poly
            .coefficients()
            .iter()
            .zip(&blinding)
            .enumerate()
            .map(|(k, (coeffs, blind))| {
                let scalars = F::as_ristretto(coeffs).ok_or_else(|| not_ristretto(task))?;
                let blind = F::as_ristretto(std::slice::from_ref(blind))
                    .ok_or_else(|| not_ristretto(task))?;
                let point = match input_range.filter(|_| k == 0) {
                    Some(range) => pedersen::commit_in_range(gens, scalars, &range, &blind[0]),
                    None => pedersen::commit(gens, scalars, &blind[0]),
                }
                .map_err(|e| Error::ProtocolViolation {
                    task: task.id,
                    reason: e.to_string(),
                })?;
                Ok(pedersen::point_to_bytes(&point))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let payloads = (1..=task.params.n)
            .map(|i| {
                let x = F::from_u64(u64::from(i));
                SharePayload {
                    share: ShareValue::Explicit(poly.evaluate(x)),
                    blind: Some(horner(&blinding, x)),
                }
            })
            .collect();
        Ok(PreparedShares {
            commitments,
            payloads,
        })
    }

    /// Seals each payload to its CP and signs the bundle.
    pub fn seal<F: Field, R: CryptoRng + ?Sized>(
        &self,
        task: &Task,
        committee: &Committee,
        prepared: &PreparedShares<F>,
        rng: &mut R,
    ) -> Bundle {
        let me = self.identity.id();
        let contexts: Vec<Vec<u8>> = committee
            .members
            .iter()
            .map(|member| {
                seal_context(
                    SHARE_PURPOSE,
                    &task.id,
                    (me, Role::Dp),
                    (&member.card.id, Role::Cp),
                    member.index,
                )
            })
            .collect();
        let plaintexts: Vec<_> = prepared
            .payloads
            .iter()
            .map(SharePayload::to_secret_bytes)
            .collect();
        let messages: Vec<kem::Message<'_>> = committee
            .members
            .iter()
            .zip(&contexts)
            .zip(&plaintexts)
            .map(|((member, context), plaintext)| kem::Message {
                recipient: &member.card.kem_key,
                context,
                plaintext,
            })
            .collect();
        // One ephemeral key for the n boxes (each box's key comes from its CP's key and
        // context), and the n + 1 point encodings share one field inversion (`kem::seal_to_all`).
        let shares = kem::seal_to_all(&messages, rng);
        let core = BundleCore {
            commitments: prepared.commitments.clone(),
            digests: shares.iter().map(share_digest).collect(),
        };
        Bundle {
            core: Signed::sign(&task.id, &self.identity, core),
            shares,
        }
    }

    /// [`Dp::prepare`] then [`Dp::seal`].
    pub fn submit<F: Field, R: CryptoRng + ?Sized>(
        &self,
        task: &Task,
        committee: &Committee,
        input: &[i128],
        gens: Option<&Generators>,
        rng: &mut R,
    ) -> Result<Bundle, Error> {
        let prepared = self.prepare::<F, R>(task, input, gens, rng)?;
        Ok(self.seal(task, committee, &prepared, rng))
    }
}

fn not_ristretto(task: &Task) -> Error {
    Error::ProtocolViolation {
        task: task.id,
        reason: format!(
            "verifiable mode needs {}, the task uses {}",
            FieldId::Ristretto255,
            task.field()
        ),
    }
}
