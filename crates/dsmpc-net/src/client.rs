//! A client connection to a role server: one request, one response, over a Noise channel pinned to
//! the server's roster key; and retries with backoff for servers that are restarting.

use std::future::Future;
use std::time::{Duration, Instant};

use dsmpc_core::codec::{CodecError, Encode};
use dsmpc_core::identity::{IdentityCard, PartyId, SecretIdentity};
use tracing::debug;

use crate::channel::{Channel, ChannelConfig, ChannelError, StaticKey};
use crate::flow::FlowLog;
use crate::rpc::{MAX_AWAIT, Request, Response, Until};
use crate::server::{MAX_PIPELINED, wire_len};

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The channel failed.
    #[error("connection to {peer}: {source}")]
    Channel {
        /// The server.
        peer: PartyId,
        /// The failure.
        source: ChannelError,
    },
    /// The server closed the connection.
    #[error("{peer} closed the connection")]
    Closed {
        /// The server.
        peer: PartyId,
    },
    /// The answer did not decode.
    #[error("malformed answer from {peer}: {source}")]
    Codec {
        /// The server.
        peer: PartyId,
        /// The failure.
        source: CodecError,
    },
    /// The server refused the request.
    #[error("{peer} refused: {reason}")]
    Refused {
        /// The server.
        peer: PartyId,
        /// Its reason.
        reason: String,
    },
    /// The server answered with the wrong kind of response.
    #[error("{peer} answered {got} to {request}")]
    Unexpected {
        /// The server.
        peer: PartyId,
        /// The request's kind.
        request: &'static str,
        /// The response's kind.
        got: &'static str,
    },
    /// The protocol core refused something.
    #[error(transparent)]
    Core(#[from] dsmpc_core::Error),
    /// The input values could not be read, or do not fit the task's input scale.
    #[error(transparent)]
    Input(#[from] crate::values::ValuesError),
    /// The edge signed that the task ended without a result.
    #[error("task {task} failed: {failure}")]
    TaskFailed {
        /// The task.
        task: dsmpc_core::task::TaskId,
        /// What is missing, as the edge signed it.
        failure: dsmpc_core::round4::TaskFailure,
    },
    /// This party's own database failed (a CP's saved state, the edge's shares).
    #[error("local store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Waiting for something took too long.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
}

/// An open connection to one server.
pub struct Client {
    channel: Channel,
    me: PartyId,
    peer: PartyId,
    flow: FlowLog,
}

impl Client {
    /// Connects to `peer` at `address` as `identity`.
    pub async fn connect(
        identity: &SecretIdentity,
        peer: &IdentityCard,
        address: &str,
        config: &ChannelConfig,
        flow: FlowLog,
    ) -> Result<Client, NetError> {
        let channel = Channel::dial(address, StaticKey::of(identity), &peer.noise_key, config)
            .await
            .map_err(|source| NetError::Channel {
                peer: peer.id.clone(),
                source,
            })?;
        Ok(Client {
            channel,
            me: identity.id().clone(),
            peer: peer.id.clone(),
            flow,
        })
    }

    /// The server this client talks to.
    pub fn peer(&self) -> &PartyId {
        &self.peer
    }

    /// Sends `request` and returns the answer; a [`Response::Refused`] becomes
    /// [`NetError::Refused`].
    pub async fn call(&mut self, request: &Request) -> Result<Response, NetError> {
        let bytes = request.to_bytes();
        let task = request.task();
        let (me, peer) = (self.me.as_str(), self.peer.as_str());
        self.flow
            .message(task, me, peer, request.kind(), wire_len(bytes.len()));
        let (response, len) = self.exchange(&bytes).await?;
        let (me, peer) = (self.me.as_str(), self.peer.as_str());
        self.flow
            .message(task, peer, me, response.kind(), wire_len(len));
        match response {
            Response::Refused(reason) => Err(NetError::Refused {
                peer: self.peer.clone(),
                reason,
            }),
            other => Ok(other),
        }
    }

    /// Sends `bytes` as one message without encoding anything — for fault injection (a truncated
    /// upload) — and returns the answer, refusals included.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<Response, NetError> {
        Ok(self.exchange(bytes).await?.0)
    }

    /// Sends `requests` without waiting for each answer (pipelining: at most
    /// [`MAX_PIPELINED`] in flight, written at once) and returns the answers in order, refusals
    /// included, so that the caller learns which request was refused. The server answers them
    /// exactly as one by one. Meant for requests with short answers, such as bundle submissions:
    /// the answers to one window must fit the socket buffers while the rest is written.
    pub async fn call_pipelined(
        &mut self,
        requests: &[Request],
    ) -> Result<Vec<Response>, NetError> {
        let encoded: Vec<Vec<u8>> = requests.iter().map(Encode::to_bytes).collect();
        let (me, peer) = (self.me.as_str(), self.peer.as_str());
        for (request, bytes) in requests.iter().zip(&encoded) {
            let (kind, len) = (request.kind(), wire_len(bytes.len()));
            self.flow.message(request.task(), me, peer, kind, len);
        }
        let answers = self.exchange_pipelined(&encoded).await?;
        let (me, peer) = (self.me.as_str(), self.peer.as_str());
        let mut responses = Vec::with_capacity(answers.len());
        for ((response, len), request) in answers.into_iter().zip(requests) {
            let kind = response.kind();
            self.flow
                .message(request.task(), peer, me, kind, wire_len(len));
            responses.push(response);
        }
        Ok(responses)
    }

    /// [`Client::call_pipelined`] with messages sent as they are (already encoded requests).
    pub async fn send_raw_pipelined(
        &mut self,
        messages: &[Vec<u8>],
    ) -> Result<Vec<Response>, NetError> {
        let answers = self.exchange_pipelined(messages).await?;
        Ok(answers.into_iter().map(|(response, _)| response).collect())
    }

    /// Sends the messages a window of [`MAX_PIPELINED`] at a time, each window in one write,
    /// and reads the window's answers before the next; returns each answer with its length.
    async fn exchange_pipelined(
        &mut self,
        messages: &[Vec<u8>],
    ) -> Result<Vec<(Response, usize)>, NetError> {
        let mut answers = Vec::with_capacity(messages.len());
        for window in messages.chunks(MAX_PIPELINED) {
            for message in window {
                self.channel
                    .queue(message)
                    .await
                    .map_err(|e| self.channel_error(e))?;
            }
            self.channel
                .flush()
                .await
                .map_err(|e| self.channel_error(e))?;
            for _ in window {
                answers.push(self.receive().await?);
            }
        }
        Ok(answers)
    }

    fn channel_error(&self, source: ChannelError) -> NetError {
        NetError::Channel {
            peer: self.peer.clone(),
            source,
        }
    }

    /// Reads and decodes one answer; returns it with its length in bytes.
    async fn receive(&mut self) -> Result<(Response, usize), NetError> {
        let answer = self
            .channel
            .recv()
            .await
            .map_err(|e| self.channel_error(e))?
            .ok_or_else(|| NetError::Closed {
                peer: self.peer.clone(),
            })?;
        let response = Response::from_bytes(&answer).map_err(|source| NetError::Codec {
            peer: self.peer.clone(),
            source,
        })?;
        Ok((response, answer.len()))
    }

    /// Sends one message and decodes the one answer; returns it with its length in bytes.
    async fn exchange(&mut self, bytes: &[u8]) -> Result<(Response, usize), NetError> {
        self.channel
            .send(bytes)
            .await
            .map_err(|e| self.channel_error(e))?;
        self.receive().await
    }

    /// A `NetError::Unexpected` for an answer of the wrong kind.
    pub fn unexpected(&self, request: &'static str, got: &Response) -> NetError {
        NetError::Unexpected {
            peer: self.peer.clone(),
            request,
            got: got.kind(),
        }
    }
}

/// Whether an error may go away by reconnecting (the server restarting, a dropped connection)
/// or by asking again (a refusal marked [`crate::rpc::UNAVAILABLE`]).
pub fn is_transient(error: &NetError) -> bool {
    match error {
        NetError::Channel { .. } | NetError::Closed { .. } => true,
        NetError::Refused { reason, .. } => reason.starts_with(crate::rpc::UNAVAILABLE),
        _ => false,
    }
}

/// Runs `attempt` until it succeeds, fails with a non-transient error, or `deadline` passes;
/// waits 100 ms, doubling up to 2 s, between attempts.
pub async fn retry<T, F, Fut>(what: &str, deadline: Duration, mut attempt: F) -> Result<T, NetError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, NetError>>,
{
    let start = Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) && start.elapsed() + wait < deadline => {
                debug!("{what}: {e}; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(e) if is_transient(&e) => {
                return Err(NetError::Timeout {
                    what: format!("{what} ({e})"),
                    seconds: deadline.as_secs(),
                });
            }
            Err(e) => return Err(e),
        }
    }
}

/// A reconnecting link to one server: connects on first use, and after a transient failure
/// reconnects with backoff (for up to `patience`) and repeats the request. Requests are safe to
/// repeat: the servers treat resent submissions idempotently.
pub struct Link {
    identity: std::sync::Arc<SecretIdentity>,
    peer: IdentityCard,
    /// Where the server accepts connections: one address, or one per front-end of a cloud
    /// that several processes serve.
    addresses: Vec<String>,
    /// The address in use (an index into `addresses`, modulo its length): each client starts
    /// at one picked from its own id, so that clients spread over front-ends, and moves to the
    /// next after a failure that may be the front-end's.
    current: std::sync::atomic::AtomicUsize,
    config: ChannelConfig,
    flow: FlowLog,
    patience: Duration,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl Link {
    /// A link from `identity` to `peer` at `address` (or at any of several addresses separated
    /// by commas: a cloud's front-ends).
    pub fn new(
        identity: std::sync::Arc<SecretIdentity>,
        peer: IdentityCard,
        address: String,
        config: ChannelConfig,
        flow: FlowLog,
        patience: Duration,
    ) -> Link {
        let addresses: Vec<String> = crate::deployment::split_addresses(&address)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let start = spread(identity.id().as_str(), addresses.len());
        Link {
            identity,
            peer,
            addresses,
            current: std::sync::atomic::AtomicUsize::new(start),
            config,
            flow,
            patience,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The server's id.
    pub fn peer(&self) -> &PartyId {
        &self.peer.id
    }

    /// Sends `request`, reconnecting as needed. A connection that was already open may have been
    /// closed by the server while it sat idle (servers drop a connection idle for their read
    /// timeout), so when it fails, a fresh one is tried at once, before any back-off.
    ///
    /// A server with several addresses (a cloud's front-ends) is left for the next address
    /// whenever a fresh connection to it fails, or its answer is a transient refusal.
    pub async fn call(&self, request: &Request) -> Result<Response, NetError> {
        let what = format!("{} at {}", self.peer.id, self.addresses.join(","));
        retry(&what, self.patience, || async {
            let mut guard = self.client.lock().await;
            if let Some(client) = guard.as_mut() {
                match client.call(request).await {
                    Err(e) if is_transient(&e) => *guard = None,
                    outcome => return outcome,
                }
            }
            let address = self.address();
            let connected = Client::connect(
                &self.identity,
                &self.peer,
                address,
                &self.config,
                self.flow.clone(),
            )
            .await;
            let mut client = match connected {
                Ok(client) => client,
                Err(e) => {
                    self.fail_over(address, &e);
                    return Err(e);
                }
            };
            let outcome = client.call(request).await;
            match &outcome {
                Err(e) if is_transient(e) => self.fail_over(address, e),
                _ => *guard = Some(client),
            }
            outcome
        })
        .await
    }

    /// The address in use.
    fn address(&self) -> &str {
        let at = self.current.load(std::sync::atomic::Ordering::Relaxed);
        &self.addresses[at % self.addresses.len()]
    }

    /// Moves on from `address`, which failed with `e`, to the server's next address (if it has
    /// several).
    fn fail_over(&self, address: &str, e: &NetError) {
        if self.addresses.len() > 1 {
            self.current
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            debug!(peer = %self.peer.id, %address, next = %self.address(), "failing over: {e}");
        }
    }

    /// A link to the same server over a connection of its own, opened on first use. A link
    /// answers one request at a time, so a caller whose [`Request::Await`]s may last seconds
    /// uses its own, and holds up nobody else's requests.
    pub fn twin(&self) -> Link {
        Link::new(
            self.identity.clone(),
            self.peer.clone(),
            self.addresses.join(","),
            self.config.clone(),
            self.flow.clone(),
            self.patience,
        )
    }

    /// One [`Request::Await`] for `until`: the server's answer as soon as it has the news, or
    /// after `longest` (cut as in [`Link::wait_for`]) whatever it is then.
    pub async fn wait_once(&self, until: Until, longest: Duration) -> Result<Response, NetError> {
        let millis = wait_millis(longest, &self.config);
        self.call(&Request::Await { millis, until }).await
    }

    /// Sends [`Request::Await`]s for `until` until `ready` extracts a value from an answer, or
    /// `timeout` passes. The server answers as soon as it has the news; without news, each wait
    /// lasts at most [`MAX_AWAIT`] and half this link's read timeout, so the server always
    /// answers before the client would give up on it.
    pub async fn wait_for<T>(
        &self,
        until: Until,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(Response) -> Result<Option<T>, NetError>,
    ) -> Result<T, NetError> {
        let start = Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            let longest = Duration::from_millis(u64::from(wait_millis(left, &self.config)));
            let asked = Instant::now();
            if let Some(v) = ready(self.wait_once(until.clone(), longest).await?)? {
                return Ok(v);
            }
            if start.elapsed() >= timeout {
                return Err(NetError::Timeout {
                    what: what.to_owned(),
                    seconds: timeout.as_secs(),
                });
            }
            // A server that answers early without the news (none of ours does) is not asked
            // again in a tight loop.
            if asked.elapsed() < longest {
                tokio::time::sleep(EARLY_ANSWER_PAUSE).await;
            }
        }
    }
}

/// Which of `count` addresses a client named `id` starts at (FNV-1a of the id): fixed for a
/// client, spread across clients.
fn spread(id: &str, count: usize) -> usize {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    usize::try_from(hash % count.max(1) as u64).unwrap_or_default()
}

/// The pause after an answer without news that came before the wait asked for was over.
const EARLY_ANSWER_PAUSE: Duration = Duration::from_millis(5);

/// How long one wait of [`Link::wait_for`] asks the server to hold it, with `left` of the
/// caller's patience: at most [`MAX_AWAIT`] and half the read timeout of `config`.
fn wait_millis(left: Duration, config: &ChannelConfig) -> u32 {
    let longest = left.min(MAX_AWAIT).min(config.io_timeout / 2);
    u32::try_from(longest.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod wait_tests {
    use super::*;

    #[test]
    fn a_wait_ends_before_the_caller_or_its_channel_gives_up() {
        let config = ChannelConfig::default();
        assert_eq!(wait_millis(Duration::from_secs(600), &config), 10_000);
        assert_eq!(wait_millis(Duration::from_millis(250), &config), 250);
        assert_eq!(wait_millis(Duration::ZERO, &config), 0);
        let impatient = ChannelConfig {
            io_timeout: Duration::from_secs(4),
            ..config
        };
        assert_eq!(wait_millis(Duration::from_secs(600), &impatient), 2_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal marked unavailable (the store for a moment, or failed until the cloud is
    /// restarted) is retried like a dropped connection; any other refusal is final.
    #[test]
    fn only_refusals_marked_unavailable_are_transient() {
        let peer = PartyId::new("cloud").unwrap();
        let refused = |reason: String| NetError::Refused {
            peer: peer.clone(),
            reason,
        };
        let marked = format!(
            "{}PostgreSQL store: connection closed",
            crate::rpc::UNAVAILABLE
        );
        assert!(is_transient(&refused(marked)));
        assert!(!is_transient(&refused("the input set is closed".into())));
    }
}
