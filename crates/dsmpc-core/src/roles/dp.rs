//! The data provider (Algorithm 2): encode the input, share it, commit to the sharing polynomials
//! (verifiable mode), seal each share to its CP and sign the bundle.
//!
//! Sharing is split in two steps, [`Dp::prepare`] and [`Dp::seal`], so that tests can tamper with
//! one share between them and play a cheating DP.

use std::sync::Arc;

use rand_core::CryptoRng;

use crate::Error;
use crate::crypto::flp::RangeCircuit;
use crate::crypto::kem;
use crate::crypto::pedersen::{self, Generators, ValueRange};
use crate::crypto::range;
use crate::encoding::Encoding;
use crate::field::{Field, FieldId};
use crate::identity::{Role, Roster, SecretIdentity};
use crate::polynomial::horner;
use crate::prg::Seed;
use crate::round1::Committee;
use crate::round2::{Bundle, BundleCore, SHARE_PURPOSE, SharePayload, ValidityShare, share_digest};
use crate::sharing::{self, ShareValue, VectorPolynomial};
use crate::signed::Signed;
use crate::task::{DpEntry, Mode, Task};
use crate::wire::seal_context;

use super::validity;

/// A data provider's long-term state.
#[derive(Debug, Clone)]
pub struct Dp {
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
}

/// How a cheating DP (fault injection: `simulate --out-of-range-dp`) proves an input outside
/// the task's range — the best forgeries it can make, none of which verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// A proof made for another value, inside the range (its minimum).
    OtherValue,
    /// A proof made for the input clipped to the range.
    Clipped,
    /// No proof at all.
    NoProof,
}

impl Forgery {
    /// Every forgery, in the order `simulate` assigns them to successive cheating DPs.
    pub const ALL: [Forgery; 3] = [Forgery::OtherValue, Forgery::Clipped, Forgery::NoProof];
}

/// Shares made but not yet sealed: one payload per CP (index i at position i-1) and the
/// commitments (verifiable mode).
#[derive(Debug)]
pub struct PreparedShares<F: Field> {
    /// Compressed Pedersen commitments `C_0..C_{t-1}`.
    pub commitments: Vec<[u8; 32]>,
    /// The range proof of the input (tasks that validate inputs), else empty.
    pub validity: Vec<u8>,
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
            return Err(Error::InputLength {
                got: input.len(),
                expected: task.dim(),
            });
        }
        let secret = input
            .iter()
            .map(|&x| task.plan.encode_input::<F>(x))
            .collect::<Result<Vec<F>, _>>()?;
        match (task.params.mode, gens) {
            (Mode::Verifiable, Some(gens)) => {
                self.prepare_verifiable(task, input, &secret, gens, None, rng)
            }
            _ => self.prepare_fast(task, input, &secret, rng),
        }
    }

    /// Fault injection: shares `input` although it lies outside the task's range (skipping the
    /// check an honest DP makes) and attaches the `forgery` instead of a proof. Only for tasks
    /// that validate inputs, the case the forgery attacks; verifiable tasks need `gens`.
    pub fn prepare_out_of_range<F: Field, R: CryptoRng + ?Sized>(
        &self,
        task: &Task,
        input: &[i128],
        forgery: Forgery,
        gens: Option<&Generators>,
        rng: &mut R,
    ) -> Result<PreparedShares<F>, Error> {
        super::check_field::<F>(task, gens)?;
        let refuse = || Error::ProtocolViolation {
            task: task.id,
            reason: "an out-of-range forgery needs a task that validates inputs".into(),
        };
        if input.len() != task.dim() {
            return Err(refuse());
        }
        match (task.range_bound(), task.validity_circuit::<F>(), gens) {
            (Some(_), _, Some(gens)) => {
                let secret: Vec<F> = input.iter().map(|&x| F::from_i128(x)).collect();
                self.prepare_verifiable(task, input, &secret, gens, Some(forgery), rng)
            }
            (None, Some(circuit), _) => {
                let (bits, claimed) = forged_bits::<F>(task, &circuit, input, forgery);
                self.prepare_validated(task, &circuit, &bits, claimed.as_deref(), rng)
            }
            _ => Err(refuse()),
        }
    }

    fn prepare_fast<F: Field, R: CryptoRng + ?Sized>(
        &self,
        task: &Task,
        input: &[i128],
        secret: &[F],
        rng: &mut R,
    ) -> Result<PreparedShares<F>, Error> {
        if let Some(circuit) = task.validity_circuit::<F>() {
            let min = task.range_min().unwrap_or_default();
            // `prepare` checked every input against the range.
            let values: Vec<u128> = input.iter().map(|&x| x.abs_diff(min)).collect();
            let bits = circuit.encode::<F>(&values);
            return self.prepare_validated(task, &circuit, &bits, None, rng);
        }
        let shares = sharing::share(secret, task.scheme(), true, rng)?;
        let payloads = shares
            .into_iter()
            .map(|s| SharePayload {
                share: s.value,
                blind: None,
                validity: None,
            })
            .collect();
        Ok(PreparedShares {
            commitments: Vec::new(),
            validity: Vec::new(),
            payloads,
        })
    }

    /// Fast mode with validated inputs: shares the `bits`, publishes one part per CP, and shares
    /// the fully linear proof — of `claimed` bits instead when a forger passes them (an empty
    /// slice: an all-zero proof).
    fn prepare_validated<F: Field, R: CryptoRng + ?Sized>(
        &self,
        task: &Task,
        circuit: &RangeCircuit,
        bits: &[F],
        claimed: Option<&[F]>,
        rng: &mut R,
    ) -> Result<PreparedShares<F>, Error> {
        let me = self.identity.id();
        let shares = sharing::share(bits, task.scheme(), true, rng)?;
        let blinds: Vec<Seed> = shares.iter().map(|_| Seed::random(rng)).collect();
        let parts: Vec<u8> = shares
            .iter()
            .zip(&blinds)
            .flat_map(|(s, blind)| validity::part(&task.id, me, s.id, blind, &s.value))
            .collect();
        let joint = circuit.joint_rand::<F>(&validity::joint_seed(&task.id, me, &parts));
        let proof = match claimed {
            None => circuit.prove(bits, &joint, rng),
            Some([]) => vec![F::ZERO; circuit.proof_len()],
            Some(claimed) => circuit.prove(claimed, &joint, rng),
        };
        let proofs = sharing::share(&proof, task.scheme(), true, rng)?;
        let payloads = shares
            .into_iter()
            .zip(proofs)
            .zip(blinds)
            .map(|((s, p), blind)| SharePayload {
                share: s.value,
                blind: None,
                validity: Some(ValidityShare {
                    proof: p.value,
                    blind,
                }),
            })
            .collect();
        Ok(PreparedShares {
            commitments: Vec::new(),
            validity: parts,
            payloads,
        })
    }

    fn prepare_verifiable<F: Field, R: CryptoRng + ?Sized>(
        &self,
        task: &Task,
        input: &[i128],
        secret: &[F],
        gens: &Generators,
        forgery: Option<Forgery>,
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
        }
        .filter(|_| forgery.is_none());
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
                    validity: None,
                }
            })
            .collect();
        let range_proof = match task.range_bound() {
            Some(bound) => {
                let blind = F::as_ristretto(&blinding[..1]).ok_or_else(|| not_ristretto(task))?;
                self.range_proof(task, &bound, input, &blind[0].0, gens, forgery, rng)?
            }
            None => Vec::new(),
        };
        Ok(PreparedShares {
            commitments,
            validity: range_proof,
            payloads,
        })
    }

    /// The proof that the input `xs`, committed with `blind` as `C_0`, lies in `bound` — or, for
    /// a cheating DP, the `forgery`: a proof claiming the range's minimum, or the clipped values,
    /// for every element outside the range.
    #[allow(clippy::too_many_arguments)]
    fn range_proof<R: CryptoRng + ?Sized>(
        &self,
        task: &Task,
        bound: &range::RangeBound,
        xs: &[i128],
        blind: &curve25519_dalek::Scalar,
        gens: &Generators,
        forgery: Option<Forgery>,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let binding = super::range_binding(&task.id, self.identity.id());
        let violation = |e: crate::crypto::CryptoError| Error::ProtocolViolation {
            task: task.id,
            reason: format!("range proof: {e}"),
        };
        let inside = |x: i128| (bound.min()..=bound.max()).contains(&x);
        let claimed: Vec<i128> = match forgery {
            None if xs.len() == 1 => {
                return range::prove(gens, bound, xs[0], blind, &binding, rng).map_err(violation);
            }
            None => {
                return range::prove_vector(gens, bound, xs, blind, &binding, rng)
                    .map_err(violation);
            }
            Some(Forgery::NoProof) => return Ok(Vec::new()),
            Some(Forgery::OtherValue) => xs
                .iter()
                .map(|&x| if inside(x) { x } else { bound.min() })
                .collect(),
            Some(Forgery::Clipped) => xs
                .iter()
                .map(|&x| x.clamp(bound.min(), bound.max()))
                .collect(),
        };
        if xs.len() > 1 {
            return range::prove_vector_claiming(gens, bound, xs, &claimed, blind, &binding, rng)
                .map_err(violation);
        }
        let c0 = range::scalar_of(xs[0]) * gens.g()[0] + blind * gens.h();
        let v = range::shifted_value(bound, claimed[0]);
        // The prover may refuse the false statement; the forger then sends no proof.
        Ok(range::prove_shifted(gens, bound, &c0, v, blind, &binding, rng).unwrap_or_default())
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
            validity: prepared.validity.clone(),
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

/// The bits a cheating DP shares for `input` (outside the range) in a fast task, and what its
/// `forgery` proves instead. Each element's bits are those of its value clipped to the range,
/// with the difference added to the lowest bit of both decompositions: the bits decode to the
/// out-of-range value and the two decompositions still differ by the offset, so only the bit
/// check can catch it. The forgeries: a proof for the range's minimum, a proof for the clipped
/// bits, or an all-zero proof (an empty claim).
fn forged_bits<F: Field>(
    task: &Task,
    circuit: &RangeCircuit,
    input: &[i128],
    forgery: Forgery,
) -> (Vec<F>, Option<Vec<F>>) {
    let min = task.range_min().unwrap_or_default();
    let width = i128::try_from((1u128 << circuit.bits) - 1 - circuit.offset.unwrap_or(0))
        .unwrap_or(i128::MAX);
    let clipped: Vec<u128> = input
        .iter()
        .map(|&x| (x.saturating_sub(min)).clamp(0, width) as u128)
        .collect();
    let valid = circuit.encode::<F>(&clipped);
    let mut bits = valid.clone();
    let n = circuit.bits as usize;
    for (e, &x) in input.iter().enumerate() {
        let excess = F::from_i128(x.saturating_sub(min) - clipped[e] as i128);
        bits[e * n] += excess;
        if circuit.offset.is_some() {
            bits[(input.len() + e) * n] += excess;
        }
    }
    let claimed = match forgery {
        Forgery::OtherValue => circuit.encode::<F>(&vec![0; input.len()]),
        Forgery::Clipped => valid,
        Forgery::NoProof => Vec::new(),
    };
    (bits, Some(claimed))
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
