//! The accept loop every role server shares: Noise handshake with roster-pinned keys, then one
//! request and one response at a time per connection.
//!
//! A connection whose handshake fails, whose peer is not in the roster, or whose frames are
//! garbage, truncated, oversized or replayed is dropped with a logged reason; the server keeps
//! serving everyone else. The number of simultaneous connections is bounded, and the loop ends on
//! the shutdown signal (see [`shutdown_signal`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use dsmpc_core::codec::Encode;
use dsmpc_core::identity::{IdentityCard, Roster, SecretIdentity};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::channel::{Channel, ChannelConfig, MAX_PAYLOAD};
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
}

/// What a server needs besides its handler.
#[derive(Debug, Clone)]
pub struct ServerContext {
    /// The server's own keys.
    pub identity: Arc<SecretIdentity>,
    /// Who may connect.
    pub roster: Arc<Roster>,
    /// Channel limits.
    pub channel: ChannelConfig,
    /// Where messages are logged.
    pub flow: FlowLog,
    /// Largest number of simultaneous connections.
    pub max_connections: usize,
}

/// Bytes an application message of `len` bytes takes on the wire: its 4-byte length, then Noise
/// transport messages of at most [`MAX_PAYLOAD`] bytes, each with a 2-byte length and a 16-byte tag.
pub fn wire_len(len: usize) -> usize {
    let payload = len + 4;
    payload + payload.div_ceil(MAX_PAYLOAD) * 18
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
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                warn!("accept failed: {e}");
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            warn!(%addr, "connection limit reached; dropping the connection");
            continue;
        };
        let (context, handler) = (context.clone(), handler.clone());
        tokio::spawn(async move {
            connection(stream, addr, &context, handler).await;
            drop(permit);
        });
    }
    info!("shutting down");
}

async fn connection<H: Handler>(
    stream: TcpStream,
    addr: SocketAddr,
    context: &ServerContext,
    handler: Arc<H>,
) {
    let roster = &context.roster;
    let secret = context.identity.noise_secret();
    let accepted = Channel::accept(
        stream,
        secret,
        |k| roster.by_noise_key(k).is_some(),
        &context.channel,
    )
    .await;
    let (mut channel, key) = match accepted {
        Ok(pair) => pair,
        Err(e) => {
            warn!(%addr, "refused connection: {e}");
            return;
        }
    };
    let Some(peer) = roster.by_noise_key(&key).cloned() else {
        return;
    };
    debug!(%addr, peer = %peer.id, "connected");
    let me = context.identity.id().to_string();
    loop {
        let bytes = match channel.recv().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => break,
            Err(e) => {
                warn!(peer = %peer.id, "dropped connection: {e}");
                break;
            }
        };
        let response = match Request::from_bytes(&bytes) {
            Ok(request) => {
                let task = request.task();
                context.flow.message(
                    task,
                    peer.id.as_str(),
                    &me,
                    request.kind(),
                    wire_len(bytes.len()),
                );
                let response = handler
                    .clone()
                    .handle_encoded(peer.clone(), request, bytes)
                    .await;
                if let Response::Refused(reason) = &response {
                    info!(peer = %peer.id, "refused: {reason}");
                }
                (task, response)
            }
            Err(e) => {
                warn!(peer = %peer.id, "dropped a malformed request: {e}");
                (None, Response::Refused(format!("malformed request: {e}")))
            }
        };
        let out = response.1.to_bytes();
        context.flow.message(
            response.0,
            &me,
            peer.id.as_str(),
            response.1.kind(),
            wire_len(out.len()),
        );
        if let Err(e) = channel.send(&out).await {
            warn!(peer = %peer.id, "could not answer: {e}");
            break;
        }
    }
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
