//! The accept loop every role server shares: Noise handshake with roster-pinned keys, then
//! requests answered in order per connection — one at a time, or, from a client that sends
//! requests without waiting for answers, those already arrived as one batch (see
//! [`MAX_PIPELINED`]).
//!
//! A connection whose handshake fails, whose peer the server's [`Directory`] does not know (the
//! roster; for the cloud, also its registry of data providers), or whose frames are
//! garbage, truncated, oversized or replayed is dropped with a logged reason; the server keeps
//! serving everyone else. The loop ends on the shutdown signal (see [`shutdown_signal`]).
//!
//! # Floods
//!
//! Connections that have not authenticated cannot crowd out those that have. A connection in its
//! handshake holds one of [`ServerContext::max_handshakes`] places for at most
//! [`ServerContext::handshake_deadline`]; when every place is taken, a new connection takes the
//! place of the oldest *silent* handshake (its peer has sent nothing) of the source address
//! holding the most, or else that source's oldest: a flooding source evicts its own idle sockets
//! first, and an honest client, which speaks at once, gets through even from the same address.
//! Only after the handshake does a connection take one of
//! [`ServerContext::max_connections`] places, and a received message must arrive whole within its
//! deadline (see `channel::message_deadline`), so trickling bytes holds nothing for long.

use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dsmpc_core::codec::Encode;
use dsmpc_core::identity::{IdentityCard, Roster, SecretIdentity};
use dsmpc_core::task::TaskId;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tracing::{debug, info, warn};

use crate::channel::{Channel, ChannelConfig, ChannelError, MAX_PAYLOAD, StaticKey};
use crate::flow::FlowLog;
use crate::rpc::{Request, Response};

/// Answers requests from authenticated roster members.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `request` from `peer`.
    fn handle(
        self: Arc<Self>,
        peer: IdentityCard,
        request: Request,
    ) -> impl Future<Output = Response> + Send;

    /// [`Handler::handle`], also given the request's encoding as it arrived (decoded strictly
    /// into `request`), which a server may store instead of encoding the message again.
    fn handle_encoded(
        self: Arc<Self>,
        peer: IdentityCard,
        request: Request,
        encoded: Vec<u8>,
    ) -> impl Future<Output = Response> + Send {
        drop(encoded);
        self.handle(peer, request)
    }

    /// The answers, in order, to requests that arrived back to back on one connection (a
    /// pipelining client): by default [`Handler::handle_encoded`] on each in turn. A server may
    /// override it to share work across the batch, but must give the same answers.
    fn handle_batch(
        self: Arc<Self>,
        peer: IdentityCard,
        requests: Vec<(Request, Vec<u8>)>,
    ) -> impl Future<Output = Vec<Response>> + Send {
        async move {
            let mut answers = Vec::with_capacity(requests.len());
            for (request, encoded) in requests {
                let handler = self.clone();
                answers.push(handler.handle_encoded(peer.clone(), request, encoded).await);
            }
            answers
        }
    }
}

/// Most requests a server reads from one connection before it answers them. A client may send
/// requests without waiting for answers (pipelining); the server takes those that have already
/// arrived, up to this many, handles them as one batch and writes the answers, in order, at once.
pub const MAX_PIPELINED: usize = 32;

/// What a server needs besides its handler.
#[derive(Clone)]
pub struct ServerContext {
    /// The server's own keys.
    pub identity: Arc<SecretIdentity>,
    /// The servers' roster.
    pub roster: Arc<Roster>,
    /// Who may connect (the roster, or for the cloud the roster and its DP registry).
    pub directory: Arc<dyn Directory>,
    /// Channel limits.
    pub channel: ChannelConfig,
    /// Where messages are logged.
    pub flow: FlowLog,
    /// Largest number of simultaneous authenticated connections.
    pub max_connections: usize,
    /// Largest number of connections in their handshake at once (see the module's "Floods").
    pub max_handshakes: usize,
    /// How long a connection may take to authenticate (for the connections this server
    /// accepts it replaces `channel.handshake_timeout`, which bounds a client's dial).
    pub handshake_deadline: std::time::Duration,
}

/// The default [`ServerContext::max_handshakes`].
pub const MAX_HANDSHAKES: usize = 256;

/// The default [`ServerContext::handshake_deadline`]: 3 s (a handshake takes a round trip and
/// three X25519 operations).
pub const HANDSHAKE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// Who may connect to a server: the card of the party whose Noise static key is `key`. The
/// roster serves the servers; the cloud adds its registry of data providers.
pub trait Directory: Send + Sync {
    /// The card with Noise static key `key`, if the party may connect.
    fn by_noise_key(&self, key: &[u8; 32]) -> Option<IdentityCard>;
}

impl Directory for Roster {
    fn by_noise_key(&self, key: &[u8; 32]) -> Option<IdentityCard> {
        Roster::by_noise_key(self, key).cloned()
    }
}

impl std::fmt::Debug for ServerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerContext")
            .field("identity", &self.identity)
            .field("channel", &self.channel)
            .field("max_connections", &self.max_connections)
            .field("max_handshakes", &self.max_handshakes)
            .field("handshake_deadline", &self.handshake_deadline)
            .finish_non_exhaustive()
    }
}

/// Bytes an application message of `len` bytes takes on the wire: its 4-byte length, then Noise
/// transport messages of at most [`MAX_PAYLOAD`] bytes, each with a 2-byte length and a 16-byte tag.
pub fn wire_len(len: usize) -> usize {
    let payload = len + 4;
    payload + payload.div_ceil(MAX_PAYLOAD) * 18
}

/// The answer to a [`Request::Await`] of `millis`: `look` gives the answer it would get now and
/// whether that carries the awaited news. It is asked again each time `news` announces a change,
/// until it has the news or the wait (cut to [`crate::rpc::MAX_AWAIT`]) is over; its last answer
/// is returned either way.
pub(crate) async fn answer_on_news<T, Fut>(
    news: &tokio::sync::watch::Sender<()>,
    millis: u32,
    mut look: impl FnMut() -> Fut,
) -> T
where
    Fut: Future<Output = (T, bool)>,
{
    let deadline = tokio::time::Instant::now() + crate::rpc::await_limit(millis);
    let mut changes = news.subscribe();
    loop {
        changes.borrow_and_update();
        let (answer, ready) = look().await;
        if ready || tokio::time::Instant::now() >= deadline {
            return answer;
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return answer;
                }
            }
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Connections in their handshake, oldest first per source address.
struct Handshakes {
    max: usize,
    pending: std::sync::Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    next: u64,
    total: usize,
    by_source: std::collections::HashMap<IpAddr, VecDeque<Waiting>>,
}

/// A handshake in progress, as [`Handshakes`] holds it.
struct Waiting {
    id: u64,
    evict: oneshot::Sender<()>,
    /// Whether the connection's task has seen the peer's first bytes.
    spoke: Arc<AtomicBool>,
    /// A second handle on the socket, to see whether the peer has sent anything the task has
    /// not read yet (a newly accepted connection's task may not have run).
    probe: Option<std::net::TcpStream>,
}

impl Waiting {
    fn has_spoken(&self) -> bool {
        if self.spoke.load(Ordering::Relaxed) {
            return true;
        }
        // Non-blocking (the socket is tokio's): data waiting or not, at once.
        self.probe
            .as_ref()
            .is_some_and(|p| matches!(p.peek(&mut [0u8; 1]), Ok(n) if n > 0))
    }
}

/// A connection's place among the handshakes: `evicted` fires when a newer one takes it.
struct Place {
    source: IpAddr,
    id: u64,
    evicted: oneshot::Receiver<()>,
    spoke: Arc<AtomicBool>,
}

impl Handshakes {
    fn new(max: usize) -> Handshakes {
        Handshakes {
            max: max.max(1),
            pending: std::sync::Mutex::new(Pending::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for a connection from `source` (`probe`: a second handle on its socket); when
    /// all are taken, one handshake of the source holding the most is evicted for it
    /// ([`Pending::evict_oldest`]).
    fn admit(&self, source: IpAddr, probe: Option<std::net::TcpStream>) -> Place {
        let mut pending = self.lock();
        if pending.total >= self.max {
            let busiest = pending
                .by_source
                .iter()
                .max_by_key(|(_, queue)| queue.len())
                .map(|(ip, _)| *ip);
            if let Some(ip) = busiest {
                pending.evict_oldest(ip);
            }
        }
        let (evict, evicted) = oneshot::channel();
        let id = pending.next;
        let spoke = Arc::new(AtomicBool::new(false));
        pending.next += 1;
        pending.total += 1;
        pending
            .by_source
            .entry(source)
            .or_default()
            .push_back(Waiting {
                id,
                evict,
                spoke: spoke.clone(),
                probe,
            });
        Place {
            source,
            id,
            evicted,
            spoke,
        }
    }

    /// Gives back `place` (its handshake ended, one way or another).
    fn release(&self, place: &Place) {
        let mut pending = self.lock();
        let Some(queue) = pending.by_source.get_mut(&place.source) else {
            return;
        };
        let before = queue.len();
        queue.retain(|w| w.id != place.id);
        let removed = before - queue.len();
        if queue.is_empty() {
            pending.by_source.remove(&place.source);
        }
        pending.total -= removed;
    }

    /// How many connections are in their handshake.
    #[cfg(test)]
    fn count(&self) -> usize {
        self.lock().total
    }
}

impl Pending {
    /// Evicts the oldest handshake of `source` whose peer has sent nothing yet (an honest
    /// client sends its first message at once), or else its oldest.
    fn evict_oldest(&mut self, source: IpAddr) {
        let Some(queue) = self.by_source.get_mut(&source) else {
            return;
        };
        let silent = queue.iter().position(|w| !w.has_spoken()).unwrap_or(0);
        if let Some(waiting) = queue.remove(silent) {
            let _ = waiting.evict.send(());
            self.total -= 1;
        }
        if queue.is_empty() {
            self.by_source.remove(&source);
        }
    }
}

mod budget;
use budget::{LogBudget, Verdict};

/// The most connections one data provider may hold open at a server. A DP needs one or two; the
/// cap keeps one registered DP (authenticated, so not subject to the handshake budget) from
/// taking the server's [`ServerContext::max_connections`] places. Roster parties (the cloud's
/// operator, the edge, CPs) are not capped: a CP opens a connection per task it waits on.
pub const MAX_CONNECTIONS_PER_DP: usize = 16;

/// How many connections each data provider holds open.
#[derive(Debug, Default)]
struct DpConnections {
    open: std::sync::Mutex<std::collections::HashMap<dsmpc_core::identity::PartyId, usize>>,
}

/// One DP's place in [`DpConnections`], given back when dropped.
struct DpPlace {
    table: Arc<DpConnections>,
    dp: dsmpc_core::identity::PartyId,
}

impl DpConnections {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<dsmpc_core::identity::PartyId, usize>>
    {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for `peer`: always for a roster party, for a DP while it holds fewer than `cap`.
    fn take(
        table: &Arc<DpConnections>,
        peer: &IdentityCard,
        cap: usize,
    ) -> Option<Option<DpPlace>> {
        if peer.role != dsmpc_core::identity::Role::Dp {
            return Some(None);
        }
        let mut open = table.lock();
        let count = open.entry(peer.id.clone()).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Some(DpPlace {
            table: table.clone(),
            dp: peer.id.clone(),
        }))
    }
}

impl Drop for DpPlace {
    fn drop(&mut self) {
        let mut open = self.table.lock();
        if let Some(count) = open.get_mut(&self.dp) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.dp);
            }
        }
    }
}

/// The warning budgets of one server: the kinds a stranger can provoke at will.
#[derive(Debug, Default)]
struct Warnings {
    refused: LogBudget,
    full: LogBudget,
    accept: LogBudget,
    per_dp: LogBudget,
}

/// Writes a warning within `budget` (see [`LogBudget`]).
macro_rules! budgeted_warn {
    ($budget:expr, $($arg:tt)+) => {
        if let Verdict::Write { suppressed } = $budget.verdict(std::time::Instant::now()) {
            if suppressed > 0 {
                warn!(suppressed, "{suppressed} more warnings like the next were left out");
            }
            warn!($($arg)+);
        }
    };
}

/// Serves `listener` until `shutdown` completes.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    context: ServerContext,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    let context = Arc::new(context);
    let permits = Arc::new(Semaphore::new(context.max_connections.max(1)));
    let handshakes = Arc::new(Handshakes::new(context.max_handshakes));
    let warnings = Arc::new(Warnings::default());
    let dp_connections = Arc::new(DpConnections::default());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors, for instance: pause rather than spin on the error.
                budgeted_warn!(warnings.accept, "accept failed: {e}");
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let Some((stream, probe)) = with_probe(stream) else {
            continue;
        };
        let place = handshakes.admit(addr.ip(), probe);
        let (context, handler) = (context.clone(), handler.clone());
        let (permits, handshakes) = (permits.clone(), handshakes.clone());
        let warnings = warnings.clone();
        let dp_connections = dp_connections.clone();
        tokio::spawn(async move {
            let authenticated =
                authenticate(stream, addr, &context, place, &handshakes, &warnings).await;
            let Some((channel, peer)) = authenticated else {
                return;
            };
            let Ok(permit) = permits.try_acquire_owned() else {
                budgeted_warn!(
                    warnings.full,
                    %addr,
                    peer = %peer.id,
                    "connection limit reached; dropping the connection"
                );
                return;
            };
            let Some(_dp_place) =
                DpConnections::take(&dp_connections, &peer, MAX_CONNECTIONS_PER_DP)
            else {
                budgeted_warn!(
                    warnings.per_dp,
                    %addr,
                    peer = %peer.id,
                    "{} holds {MAX_CONNECTIONS_PER_DP} connections already; dropping this one",
                    peer.id
                );
                return;
            };
            serve_connection(channel, peer, &context, handler).await;
            drop(permit);
        });
    }
    info!("shutting down");
}

/// `stream` and a second handle on its socket for [`Waiting::has_spoken`] (none if the system
/// will not duplicate it: that connection is then taken as silent); `None` if the stream cannot
/// be registered again.
fn with_probe(stream: TcpStream) -> Option<(TcpStream, Option<std::net::TcpStream>)> {
    let plain = stream.into_std().ok()?;
    let probe = plain.try_clone().ok();
    let stream = TcpStream::from_std(plain).ok()?;
    Some((stream, probe))
}

/// How long the accept loop pauses after a failed accept.
const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// The handshake of a new connection, within the handshake deadline and while it keeps its
/// place: the channel and the card of a peer the directory knows, or `None` (logged).
async fn authenticate(
    stream: TcpStream,
    addr: SocketAddr,
    context: &ServerContext,
    mut place: Place,
    handshakes: &Handshakes,
    warnings: &Warnings,
) -> Option<(Channel, IdentityCard)> {
    let directory = &context.directory;
    let local = StaticKey::of(&context.identity);
    let started = tokio::time::Instant::now();
    // The first bytes: a peer that has spoken is evicted after the silent ones.
    tokio::select! {
        readable = tokio::time::timeout(context.handshake_deadline, stream.readable()) => {
            if !matches!(readable, Ok(Ok(()))) {
                handshakes.release(&place);
                debug!(%addr, "no handshake within the deadline");
                return None;
            }
        }
        _ = &mut place.evicted => {
            debug!(%addr, "silent connection evicted by newer connections");
            return None;
        }
    }
    place.spoke.store(true, Ordering::Relaxed);
    let cfg = ChannelConfig {
        handshake_timeout: context
            .handshake_deadline
            .saturating_sub(started.elapsed())
            .max(std::time::Duration::from_millis(1)),
        ..context.channel.clone()
    };
    // The handshake asks whether the key is known; the card found then is the peer's.
    let found = std::sync::Mutex::new(None);
    let accepting = Channel::accept(
        stream,
        local,
        |k| {
            let card = directory.by_noise_key(k);
            let known = card.is_some();
            *found
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = card;
            known
        },
        &cfg,
    );
    let accepted = tokio::select! {
        accepted = accepting => accepted,
        _ = &mut place.evicted => {
            debug!(%addr, "handshake evicted by newer connections");
            return None;
        }
    };
    handshakes.release(&place);
    let (channel, key) = match accepted {
        Ok(pair) => pair,
        Err(e) => {
            budgeted_warn!(warnings.refused, %addr, "refused connection: {e}");
            return None;
        }
    };
    let found = found
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let peer = found.filter(|card| card.noise_key == key)?;
    debug!(%addr, peer = %peer.id, "connected");
    Some((channel, peer))
}

/// Answers `peer`'s requests on `channel` until it closes or fails.
async fn serve_connection<H: Handler>(
    mut channel: Channel,
    peer: IdentityCard,
    context: &ServerContext,
    handler: Arc<H>,
) {
    let me = context.identity.id().to_string();
    loop {
        let (received, open) = receive_batch(&mut channel, &peer).await;
        if !received.is_empty() {
            let answers = answer_batch(context, &handler, &peer, &me, received).await;
            if let Err(e) = send_answers(&mut channel, context, &peer, &me, &answers).await {
                warn!(peer = %peer.id, "could not answer: {e}");
                break;
            }
        }
        if !open {
            break;
        }
    }
}

/// The next request and those already buffered behind it (up to [`MAX_PIPELINED`]); `false`
/// once the connection has ended (cleanly or not), after the requests received before the end.
async fn receive_batch(channel: &mut Channel, peer: &IdentityCard) -> (Vec<Vec<u8>>, bool) {
    let mut received = Vec::new();
    loop {
        match channel.recv().await {
            Ok(Some(bytes)) => received.push(bytes),
            Ok(None) => return (received, false),
            Err(e) if e.is_idle() => {
                debug!(peer = %peer.id, "closed an idle connection");
                return (received, false);
            }
            Err(e) => {
                warn!(peer = %peer.id, "dropped connection: {e}");
                return (received, false);
            }
        }
        if received.len() >= MAX_PIPELINED || !channel.has_buffered_input() {
            return (received, true);
        }
    }
}

/// Decodes and logs each request, has the handler answer the well-formed ones as one batch, and
/// returns every answer in request order (a malformed request is refused in its place). An
/// [`Request::Await`] that came with other requests is answered at once, without waiting: only a
/// lone request may hold a connection, or a client could pipeline 32 waits and hold one for
/// 32 times the longest wait.
async fn answer_batch<H: Handler>(
    context: &ServerContext,
    handler: &Arc<H>,
    peer: &IdentityCard,
    me: &str,
    received: Vec<Vec<u8>>,
) -> Vec<(Option<TaskId>, Response)> {
    let mut answers: Vec<Option<(Option<TaskId>, Response)>> = Vec::with_capacity(received.len());
    let mut requests = Vec::with_capacity(received.len());
    let mut tasks = Vec::with_capacity(received.len());
    let pipelined = received.len() > 1;
    for bytes in received {
        match Request::from_bytes(&bytes) {
            Ok(request) => {
                let request = match request {
                    Request::Await { until, .. } if pipelined => {
                        Request::Await { millis: 0, until }
                    }
                    other => other,
                };
                let task = request.task();
                let (kind, len) = (request.kind(), wire_len(bytes.len()));
                context.flow.message(task, peer.id.as_str(), me, kind, len);
                tasks.push(task);
                requests.push((request, bytes));
                answers.push(None);
            }
            Err(e) => {
                warn!(peer = %peer.id, "dropped a malformed request: {e}");
                let refusal = Response::Refused(format!("malformed request: {e}"));
                answers.push(Some((None, refusal)));
            }
        }
    }
    let handled = match requests.is_empty() {
        true => Vec::new(),
        false => handler.clone().handle_batch(peer.clone(), requests).await,
    };
    let mut handled = tasks.into_iter().zip(handled);
    answers
        .into_iter()
        .map(|slot| match slot {
            Some(refused) => refused,
            None => handled.next().unwrap_or_else(|| {
                let missing = Response::Refused("the server lost this request's answer".into());
                (None, missing)
            }),
        })
        .inspect(|(_, response)| {
            if let Response::Refused(reason) = response {
                info!(peer = %peer.id, "refused: {reason}");
            }
        })
        .collect()
}

/// Queues every answer, logging each, then writes them all at once.
async fn send_answers(
    channel: &mut Channel,
    context: &ServerContext,
    peer: &IdentityCard,
    me: &str,
    answers: &[(Option<TaskId>, Response)],
) -> Result<(), ChannelError> {
    for (task, response) in answers {
        let out = response.to_bytes();
        let (kind, len) = (response.kind(), wire_len(out.len()));
        context.flow.message(*task, me, peer.id.as_str(), kind, len);
        channel.queue(&out).await?;
    }
    channel.flush().await
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    /// When every place is taken, the oldest handshake of the source holding the most makes
    /// room; another source's handshakes keep theirs.
    fn card(name: &str, role: dsmpc_core::identity::Role) -> IdentityCard {
        let id = dsmpc_core::identity::PartyId::new(name).unwrap();
        SecretIdentity::generate(id, role, &mut dsmpc_core::rng::fast_rng())
            .card()
            .clone()
    }

    /// A DP gets at most the cap of places, and one back for each it gives up; another DP and
    /// roster parties are not held back by it.
    #[test]
    fn a_dp_holds_at_most_its_cap_of_connections() {
        use dsmpc_core::identity::Role;
        let table = Arc::new(DpConnections::default());
        let (dp1, dp2, cp) = (
            card("dp1", Role::Dp),
            card("dp2", Role::Dp),
            card("cp1", Role::Cp),
        );
        let mut held: Vec<_> = (0..3)
            .map(|_| DpConnections::take(&table, &dp1, 3).expect("room"))
            .collect();
        assert!(
            DpConnections::take(&table, &dp1, 3).is_none(),
            "dp1 is at its cap"
        );
        assert!(
            DpConnections::take(&table, &dp2, 3).is_some(),
            "dp2 is not held back"
        );
        let cp_places: Vec<_> = (0..10)
            .map(|_| DpConnections::take(&table, &cp, 3))
            .collect();
        assert!(
            cp_places.iter().all(|p| matches!(p, Some(None))),
            "roster parties are not capped"
        );
        held.pop();
        assert!(
            DpConnections::take(&table, &dp1, 3).is_some(),
            "a place given back is free"
        );
        drop(held);
        assert!(
            table.lock().is_empty(),
            "every place given back: {:?}",
            table.lock()
        );
    }

    #[test]
    fn a_full_budget_evicts_the_busiest_sources_oldest_handshake() {
        let handshakes = Handshakes::new(3);
        let mut honest = handshakes.admit(ip(1), None);
        let mut first = handshakes.admit(ip(2), None);
        let mut second = handshakes.admit(ip(2), None);
        let mut third = handshakes.admit(ip(2), None);
        assert_eq!(handshakes.count(), 3);
        assert!(
            first.evicted.try_recv().is_ok(),
            "the flooder's oldest goes"
        );
        assert!(second.evicted.try_recv().is_err());
        assert!(third.evicted.try_recv().is_err());
        assert!(
            honest.evicted.try_recv().is_err(),
            "the other source keeps its place"
        );
        handshakes.release(&honest);
        handshakes.release(&first); // already evicted: no effect
        assert_eq!(handshakes.count(), 2);
        let _again = handshakes.admit(ip(1), None);
        assert!(
            second.evicted.try_recv().is_err(),
            "room was free: no eviction"
        );
    }

    /// A handshake whose peer has spoken is evicted only after the silent ones of its source.
    #[test]
    fn silent_handshakes_are_evicted_before_those_that_spoke() {
        let handshakes = Handshakes::new(3);
        let mut talker = handshakes.admit(ip(1), None);
        talker.spoke.store(true, Ordering::Relaxed);
        let mut silent = handshakes.admit(ip(1), None);
        let mut younger = handshakes.admit(ip(1), None);
        let _newest = handshakes.admit(ip(1), None);
        assert!(
            talker.evicted.try_recv().is_err(),
            "the oldest spoke: it stays"
        );
        assert!(
            silent.evicted.try_recv().is_ok(),
            "the oldest silent one goes"
        );
        younger.spoke.store(true, Ordering::Relaxed);
        let _next = handshakes.admit(ip(1), None);
        assert!(younger.evicted.try_recv().is_err());
        assert_eq!(handshakes.count(), 3);
    }
}
