//! # dsmpc-net
//!
//! The I/O layer of dsmpc: Noise-encrypted TCP channels, framing, the roster, the role servers that
//! drive the `dsmpc-core` state machines, the durable store and the flow log (DESIGN.md §6).
//!
//! It holds no protocol logic of its own: every decision about shares, commitments and results is
//! made in `dsmpc-core`, so that the same code runs in tests, in `simulate` and in a deployment.
//! So far it holds the encrypted transport ([`channel`]); the servers arrive with the
//! networked-roles milestone.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod channel;

pub use dsmpc_core as core;
