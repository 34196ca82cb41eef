//! # `flood`: an authenticated client among thousands of sockets that never authenticate
//!
//! [`flood`] measures what an operator waits for `task create` while one local process holds
//! `idle` TCP connections to the cloud open without ever starting a handshake, and `trickle`
//! more that send one byte of a handshake now and then. Method:
//!
//! 1. **Deployment (untimed).** The `ingest` benchmark's cloud: a real
//!    [`CloudServer`](crate::roles::cloud::CloudServer) on a 127.0.0.1 port, with its limits of
//!    a server ([`crate::server::MAX_HANDSHAKES`] handshakes at once, each within
//!    [`crate::server::HANDSHAKE_DEADLINE`]), 3 CPs, 10 registered DPs.
//! 2. **Quiet (timed).** `creates` times, the operator opens a Noise connection and creates a
//!    task (`CreateTask` over 10 DPs) — what `dsmpc task create` does.
//! 3. **Flood.** `idle + trickle` attacker tasks each keep one socket open: when the cloud closes
//!    it, the attacker connects again at once, so the cloud faces the whole flood throughout.
//! 4. **Flooded (timed).** `creates` task creations again, as in 2.
//!
//! The report gives both series; `dsmpc bench flood` holds the flooded median to 1 s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{BenchError, Deployment, IngestConfig, work_dir};
use crate::rpc::{Request, Response};

/// What [`flood`] runs.
#[derive(Debug, Clone)]
pub struct FloodConfig {
    /// Sockets held open that send nothing.
    pub idle: usize,
    /// Sockets held open that send a byte every [`TRICKLE_EVERY`].
    pub trickle: usize,
    /// Task creations timed before and during the flood.
    pub creates: usize,
}

impl Default for FloodConfig {
    /// 5000 idle sockets, 100 trickling, 5 task creations each way.
    fn default() -> Self {
        FloodConfig {
            idle: 5000,
            trickle: 100,
            creates: 5,
        }
    }
}

/// How often a trickling socket sends its next byte.
pub const TRICKLE_EVERY: Duration = Duration::from_millis(500);

/// What [`flood`] measured.
#[derive(Debug, Clone)]
pub struct FloodReport {
    /// Seconds per task creation (connection, handshake, `CreateTask`) with no flood.
    pub quiet_seconds: Vec<f64>,
    /// The same during the flood.
    pub flooded_seconds: Vec<f64>,
    /// Attacker sockets open when the flooded creations began.
    pub sockets_open: usize,
    /// Connections the attackers made in all (each reconnects when the cloud closes its socket).
    pub attacker_connections: u64,
}

/// Runs [`flood_async`] on a fresh multi-threaded tokio runtime.
pub fn flood(config: &FloodConfig) -> Result<FloodReport, BenchError> {
    super::runtime()?.block_on(flood_async(config))
}

/// The flood benchmark (see the [module documentation](self)).
pub async fn flood_async(config: &FloodConfig) -> Result<FloodReport, BenchError> {
    if config.creates == 0 {
        return Err(BenchError::Config(
            "at least one task creation is timed".into(),
        ));
    }
    let cloud_config = IngestConfig {
        dps: 10,
        tasks: 1,
        cps: 3,
        threshold: 2,
        concurrency: 1,
        work_dir: None,
        database: None,
    };
    let (dir, _cleanup) = work_dir(&cloud_config)?;
    let deployment = Deployment::start(&cloud_config, &dir).await?;
    let quiet_seconds = time_creates(&deployment, &cloud_config, config.creates).await?;

    let attack = Attack::start(&deployment.address, config).await?;
    let sockets_open = attack.open.load(Ordering::SeqCst) as usize;
    let flooded = time_creates(&deployment, &cloud_config, config.creates).await;
    let attacker_connections = attack.stop().await;
    Ok(FloodReport {
        quiet_seconds,
        flooded_seconds: flooded?,
        sockets_open,
        attacker_connections,
    })
}

/// Seconds for each of `count` task creations, each on a new connection.
async fn time_creates(
    deployment: &Deployment,
    config: &IngestConfig,
    count: usize,
) -> Result<Vec<f64>, BenchError> {
    let mut seconds = Vec::with_capacity(count);
    for _ in 0..count {
        let clock = Instant::now();
        let mut operator = deployment.connect(&deployment.cloud).await?;
        let params = deployment.task_params(config)?;
        match operator.call(&Request::CreateTask(params)).await? {
            Response::Task(_) => seconds.push(clock.elapsed().as_secs_f64()),
            other => return Err(operator.unexpected("create-task", &other).into()),
        }
    }
    Ok(seconds)
}

/// The attackers' sockets, each kept open (reopened when the cloud closes it).
struct Attack {
    stop: Arc<AtomicBool>,
    open: Arc<AtomicU64>,
    made: Arc<AtomicU64>,
    tasks: tokio::task::JoinSet<()>,
}

impl Attack {
    /// Opens every socket once, then returns with the attackers still at work.
    async fn start(address: &str, config: &FloodConfig) -> Result<Attack, BenchError> {
        let mut attack = Attack {
            stop: Arc::new(AtomicBool::new(false)),
            open: Arc::new(AtomicU64::new(0)),
            made: Arc::new(AtomicU64::new(0)),
            tasks: tokio::task::JoinSet::new(),
        };
        let total = config.idle + config.trickle;
        for k in 0..total {
            let first = TcpStream::connect(address).await.map_err(|e| {
                BenchError::Setup(format!(
                    "opening attacker socket {} of {total}: {e} (raise `ulimit -n`?)",
                    k + 1
                ))
            })?;
            let (stop, open, made) = (
                attack.stop.clone(),
                attack.open.clone(),
                attack.made.clone(),
            );
            let address = address.to_owned();
            let trickles = k >= config.idle;
            made.fetch_add(1, Ordering::SeqCst);
            open.fetch_add(1, Ordering::SeqCst);
            attack.tasks.spawn(async move {
                let mut socket = Some(first);
                while !stop.load(Ordering::SeqCst) {
                    let stream = match socket.take() {
                        Some(s) => s,
                        None => match TcpStream::connect(&address).await {
                            Ok(s) => {
                                made.fetch_add(1, Ordering::SeqCst);
                                open.fetch_add(1, Ordering::SeqCst);
                                s
                            }
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            }
                        },
                    };
                    hold(stream, trickles, &stop).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
        Ok(attack)
    }

    /// Stops the attackers; returns how many connections they made.
    async fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.tasks.shutdown().await;
        self.made.load(Ordering::SeqCst)
    }
}

/// Holds `stream` open (sending a byte every [`TRICKLE_EVERY`] if `trickles`) until the cloud
/// closes it or the attack stops.
async fn hold(mut stream: TcpStream, trickles: bool, stop: &AtomicBool) {
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::SeqCst) {
        let wait = tokio::time::sleep(TRICKLE_EVERY);
        tokio::select! {
            read = stream.read(&mut buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
            () = wait => {
                if trickles && stream.write_all(&[0]).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More sockets than the cloud has handshake places, idle or trickling, reopened as the
    /// cloud closes them: the operator's task creations all succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_operator_gets_through_a_flood_of_unauthenticated_sockets() {
        let config = FloodConfig {
            idle: crate::server::MAX_HANDSHAKES + 300,
            trickle: 20,
            creates: 2,
        };
        let report = flood_async(&config).await.unwrap();
        assert_eq!(report.quiet_seconds.len(), 2);
        assert_eq!(report.flooded_seconds.len(), 2);
        assert!(
            report.sockets_open > crate::server::MAX_HANDSHAKES,
            "{} attacker sockets open",
            report.sockets_open
        );
    }
}
