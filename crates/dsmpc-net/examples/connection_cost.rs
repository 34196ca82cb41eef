//! What one data provider's connection costs, apart from everything the protocol does with it:
//! N short connections over loopback, 64 at a time, each sending one 1000-byte request and
//! reading a 64-byte answer, first as bare TCP and then as this crate's Noise XX channel (both
//! ends in this process, as in `dsmpc simulate`). It prints the CPU time per connection (all
//! threads, user and system; Linux only), the floor under every simulated DP's upload.
//!
//! ```sh
//! cargo run --release -p dsmpc-net --example connection_cost [-- CONNECTIONS]
//! ```

use std::sync::Arc;
use std::time::Instant;

use dsmpc_core::identity::{PartyId, Role, SecretIdentity};
use dsmpc_net::bench::process_cpu_seconds;
use dsmpc_net::channel::{Channel, ChannelConfig, StaticKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Connections open at once, as the simulation's uploads in flight.
const IN_FLIGHT: usize = 64;

fn identity(name: &str) -> Result<Arc<SecretIdentity>, Error> {
    let id = PartyId::new(name)?;
    let mut rng = dsmpc_core::rng::os_rng();
    Ok(Arc::new(SecretIdentity::generate(id, Role::Cp, &mut rng)))
}

/// Runs `connections` clients through `client` (64 at a time) and prints the cost per connection.
async fn measure<F, Fut>(what: &str, connections: usize, client: F) -> Result<(), Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let (started, cpu_before) = (Instant::now(), process_cpu_seconds());
    let mut running = Vec::with_capacity(connections);
    for _ in 0..connections {
        let permit = permits.clone().acquire_owned().await?;
        let work = client();
        running.push(tokio::spawn(async move {
            let outcome = work.await;
            drop(permit);
            outcome
        }));
    }
    for done in running {
        done.await??;
    }
    let wall = started.elapsed().as_secs_f64();
    print!("{what}: {connections} connections in {wall:.3} s");
    if let (Some(before), Some(after)) = (cpu_before, process_cpu_seconds()) {
        let per = (after - before) / connections as f64 * 1e6;
        print!(
            ", {:.2} CPU-s, {per:.0} µs of CPU per connection",
            after - before
        );
    }
    println!();
    Ok(())
}

async fn bare_tcp(connections: usize) -> Result<(), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut request = [0u8; 1000];
                if stream.read_exact(&mut request).await.is_ok() {
                    let _ = stream.write_all(&[0u8; 64]).await;
                }
            });
        }
    });
    measure("bare TCP", connections, move || async move {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&[0x5a; 1000]).await?;
        let mut answer = [0u8; 64];
        stream.read_exact(&mut answer).await?;
        Ok(())
    })
    .await
}

async fn noise(connections: usize) -> Result<(), Error> {
    let (server, client) = (identity("server")?, identity("client")?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let client_key = client.card().noise_key;
    let serving = server.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let server = serving.clone();
            tokio::spawn(async move {
                let known = |k: &[u8; 32]| *k == client_key;
                let cfg = ChannelConfig::default();
                let accepted = Channel::accept(stream, StaticKey::of(&server), known, &cfg).await;
                if let Ok((mut channel, _)) = accepted
                    && let Ok(Some(_request)) = channel.recv().await
                {
                    let _ = channel.send(&[0u8; 64]).await;
                }
            });
        }
    });
    let server_key = server.card().noise_key;
    measure("Noise XX channel", connections, move || {
        let (client, addr) = (client.clone(), addr.clone());
        async move {
            let cfg = ChannelConfig::default();
            let mut channel =
                Channel::dial(&addr, StaticKey::of(&client), &server_key, &cfg).await?;
            channel.send(&[0x5a; 1000]).await?;
            channel
                .recv()
                .await?
                .ok_or("the server closed the channel")?;
            Ok(())
        }
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let connections = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    bare_tcp(connections).await?;
    noise(connections).await
}
