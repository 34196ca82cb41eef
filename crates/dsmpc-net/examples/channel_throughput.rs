//! Throughput of a Noise channel over loopback: 200 MiB from one party to another, three times as
//! 8 MiB messages (the first run also warms up the allocator), then as one 200 MiB message (which
//! the receiver must fault into fresh memory).
//!
//! Besides the wall-clock rate it prints the CPU time both parties spent (Linux only, from
//! `/proc/self/task/*/schedstat`): on a machine busy with other work, the rate per CPU-second is
//! the steadier figure.
//!
//! ```sh
//! cargo run --release -p dsmpc-net --example channel_throughput
//! ```

use std::time::Instant;

use dsmpc_core::identity::{PartyId, Role, SecretIdentity};
use dsmpc_net::channel::{Channel, ChannelConfig, ChannelError, StaticKey};
use tokio::net::TcpListener;

const TOTAL: usize = 200 << 20;

/// A fresh X25519 key pair (secret, public), from a throwaway identity.
fn keys() -> Result<([u8; 32], [u8; 32]), Box<dyn std::error::Error>> {
    let id = PartyId::new("bench")?;
    let identity = SecretIdentity::generate(id, Role::Cp, &mut dsmpc_core::rng::os_rng());
    Ok((*identity.noise_secret(), identity.card().noise_key))
}

/// CPU time used so far by every thread of this process, in nanoseconds (Linux only).
fn cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Receives until the peer closes; returns the bytes received.
async fn drain(mut channel: Channel) -> Result<usize, ChannelError> {
    let mut total = 0;
    while let Some(message) = channel.recv().await? {
        total += message.len();
    }
    Ok(total)
}

/// Sends `TOTAL` bytes as messages of `message_len` and prints the rate.
async fn run(message_len: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ((server_secret, server_public), (client_secret, client_public)) = (keys()?, keys()?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let cfg = ChannelConfig::default();
    let server_cfg = cfg.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let known = |k: &[u8; 32]| *k == client_public;
        let (channel, _) = Channel::accept(
            stream,
            StaticKey::new(&server_secret, &server_public),
            known,
            &server_cfg,
        )
        .await?;
        drain(channel).await
    });
    let mut client = Channel::dial(
        &addr,
        StaticKey::new(&client_secret, &client_public),
        &server_public,
        &cfg,
    )
    .await?;
    let message = vec![0x5a; message_len];
    let (started, cpu_before) = (Instant::now(), cpu_ns());
    for _ in 0..TOTAL / message_len {
        client.send(&message).await?;
    }
    drop(client);
    let received = server.await??;
    let secs = started.elapsed().as_secs_f64();
    let mb = received as f64 / 1e6;
    print!(
        "{} MiB in {message_len}-byte messages: {secs:.3} s, {:.0} MB/s",
        received >> 20,
        mb / secs
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_ns()) {
        let cpu = (after - before) as f64 / 1e9;
        print!("; CPU {cpu:.3} s, {:.0} MB per CPU-second", mb / cpu);
    }
    println!();
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for _ in 0..3 {
        run(8 << 20).await?;
    }
    run(TOTAL).await
}
