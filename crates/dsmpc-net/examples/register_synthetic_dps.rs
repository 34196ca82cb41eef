//! Registers `COUNT` synthetic data providers (`dpx0000001`, …) in a cloud store, so that a task
//! can list millions of DPs without `dsmpc init` making a key file for each: the measurement of
//! what one real DP downloads in a deployment of 10^3–10^6 DPs (`scripts/dp_download.sh`).
//!
//! The synthetic DPs share one verifying and one KEM key (the registry refuses only a shared
//! Noise key, and nothing here signs as them); each gets its own Noise key. They can be listed in
//! a task but never connect.
//!
//! ```sh
//! cargo run --release -p dsmpc-net --example register_synthetic_dps -- DIR/cloud.db COUNT
//! ```

use dsmpc_core::identity::{IdentityCard, PartyId, Role, SecretIdentity};
use dsmpc_net::store::Store;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Cards registered per transaction.
const BATCH: usize = 50_000;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(count)) = (args.next(), args.next()) else {
        return Err("usage: register_synthetic_dps DB COUNT".into());
    };
    let count: usize = count.parse()?;
    let template = SecretIdentity::generate(
        PartyId::new("dpx")?,
        Role::Dp,
        &mut dsmpc_core::rng::os_rng(),
    )
    .card()
    .clone();
    let mut store = Store::open(std::path::Path::new(&db))?;
    let mut added = 0;
    let mut batch = Vec::with_capacity(BATCH);
    for k in 1..=count {
        let mut noise_key = [0u8; 32];
        noise_key[..8].copy_from_slice(&(k as u64).to_le_bytes());
        noise_key[31] = 0x5a;
        batch.push(IdentityCard {
            id: PartyId::new(&format!("dpx{k:07}"))?,
            noise_key,
            ..template.clone()
        });
        if batch.len() == BATCH || k == count {
            added += store.register_dps(&batch)?.added;
            batch.clear();
        }
    }
    println!("registered {added} synthetic DPs in {db}");
    Ok(())
}
