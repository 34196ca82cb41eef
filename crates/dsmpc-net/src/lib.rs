//! # dsmpc-net
//!
//! The I/O layer of dsmpc: Noise-encrypted TCP channels ([`channel`]), deployment directories
//! ([`deployment`]), the durable store ([`store`]), the flow log ([`flow`]), the request/response
//! messages ([`rpc`]) and the role servers that drive the `dsmpc-core` state machines.
//!
//! It holds no protocol logic of its own: every decision about shares, commitments and results is
//! made in `dsmpc-core`, so that the same code runs in tests, in `simulate` and in a deployment.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod channel;
pub mod client;
pub mod deployment;
pub mod flow;
pub mod peer;
pub mod roles;
pub mod rpc;
pub mod server;
pub mod simulate;
pub mod store;
pub mod values;

pub use dsmpc_core as core;
