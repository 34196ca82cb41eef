//! # dsmpc-core
//!
//! The protocol core of dsmpc, free of I/O: no sockets, no clock, no threads. Everything here is
//! deterministic given its random number generator, so every role can be driven in one process and
//! every message can be pinned by a test vector.
//!
//! The foundation layer provides:
//!
//! * [`field`]: the finite fields dsmpc computes in — GF(2^31-1), GF(2^61-1) and the ristretto255
//!   scalar field — behind one small [`field::Field`] trait with lazily reduced dot products;
//! * [`polynomial`]: Horner evaluation and Lagrange coefficients;
//! * [`prg`]: 32-byte seeds expanded into uniform field vectors by a domain-separated ChaCha20 stream;
//! * [`sharing`]: additive n-of-n and Shamir t-of-n sharing of vectors, in explicit and
//!   seed-compressed forms, and reconstruction from any t shares;
//! * [`encoding`]: exact fixed-point encoding of signed inputs and weights, and the choice of the
//!   smallest field in which a weighted sum can never wrap.
//!
//! ```
//! use dsmpc_core::field::{Field, M61};
//! use dsmpc_core::sharing::{self, Scheme};
//!
//! let mut rng = dsmpc_core::rng::os_rng();
//! let secret: Vec<M61> = [5i128, -7, 11].iter().map(|&v| M61::from_i128(v)).collect();
//! let scheme = Scheme::shamir(5, 3).unwrap();
//! let shares = sharing::share(&secret, scheme, true, &mut rng).unwrap();
//! // Any three of the five shares give the secret back.
//! let subset = [shares[4].clone(), shares[0].clone(), shares[2].clone()];
//! let recovered = sharing::reconstruct(&subset, scheme, secret.len()).unwrap();
//! assert_eq!(recovered.as_slice(), secret.as_slice());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod codec;
pub mod crypto;
pub mod dpset;
pub mod encoding;
pub mod error;
pub mod field;
pub mod harness;
pub mod identity;
pub mod merkle;
pub mod polynomial;
pub mod prg;
pub mod rng;
pub mod roles;
pub mod round1;
pub mod round2;
pub mod round3;
pub mod round4;
pub mod sharing;
pub mod signed;
pub mod task;
pub mod wire;

pub use error::Error;
