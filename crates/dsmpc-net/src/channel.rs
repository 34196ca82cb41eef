//! Noise-encrypted, length-framed, mutually authenticated message channels over TCP.
//!
//! A [`Channel`] carries whole application messages between two parties that know each other's
//! X25519 static keys (`IdentityCard::noise_key`): the initiator ([`Channel::connect`],
//! [`Channel::dial`]) names the one responder key it accepts, the responder ([`Channel::accept`])
//! asks the caller whether it knows the initiator's key. Messages are confidential, authentic and
//! in order; the first sign of tampering, misframing or a stalled peer ends the channel with an
//! error, never a panic.
//!
//! # Wire format
//!
//! Every Noise message, handshake or transport, is preceded by its length as a u16 big-endian (as
//! the Noise specification suggests).
//!
//! 1. **Handshake**: `Noise_XX_25519_AESGCM_SHA256`, prologue `dsmpc/v1/channel`, empty payloads:
//!    `-> e` (32 bytes), `<- e, ee, s, es` (96 bytes), `-> s, se` (64 bytes). The initiator sends
//!    the third message only if the responder's static key is the expected one; the responder
//!    drops the connection after it unless it knows the initiator's static key.
//! 2. **Confirmation**: the responder accepts the initiator by sending one transport message with
//!    an empty payload (16 bytes: the tag alone), as the first transport message of its direction
//!    (this implementation writes it together with its first application message). The initiator
//!    may send application messages right after the third handshake message, without waiting for
//!    the confirmation; it reads and checks the confirmation before the first message it receives,
//!    so a refused initiator sees the connection end (cleanly: [`Channel::recv`] returns `None`)
//!    when it waits for an answer.
//! 3. **Application messages**: an application message is its length as u32 little-endian followed
//!    by its bytes, that whole byte string being cut into Noise transport payloads of at most
//!    65535 − 16 = 65519 bytes. Messages follow one another.
//!
//! A receiver treats the concatenated transport payloads as one byte stream, so it accepts any cut
//! (this implementation starts each message in a fresh transport message and fills every one but
//! the last). It refuses a declared application length above `max_message_len` before allocating.
//! The connection closing between messages is a clean end ([`Channel::recv`] returns `None`);
//! closing anywhere else is [`ChannelError::Closed`].
//!
//! # Timeouts
//!
//! The whole handshake is bounded by `handshake_timeout`; afterwards every socket read and write by
//! `io_timeout`, so a peer that stalls is cut off. A received message is bounded as a whole too,
//! so that trickling a byte now and then does not keep it open: its length prefix (the first
//! transport message) must arrive within a second more than `io_timeout`, and its body within
//! [`message_deadline`] of its length (`io_timeout` plus a second per MiB).
//!
//! After any error except [`ChannelError::TooLarge`] from [`Channel::send`], the channel is
//! finished and further calls return [`ChannelError::Closed`]. The same holds when a `send` or
//! `recv` future is dropped before it completes (for instance by `tokio::select!`): neither is
//! cancel-safe, and the channel refuses further use rather than resume in the middle of a message.

mod frame;
mod handshake;
#[cfg(test)]
mod tests;
mod x25519;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use dsmpc_core::identity::SecretIdentity;
use snow::TransportState;
use tokio::net::TcpStream;
use tokio::time::timeout;

use frame::{FrameReader, FrameWriter, WRITE_BATCH};

/// The AEAD tag at the end of every transport message.
const TAG_LEN: usize = 16;

/// The largest Noise message.
const MAX_NOISE_MESSAGE: usize = 65535;

/// The largest transport payload: 65535 − 16 = 65519 bytes.
pub const MAX_PAYLOAD: usize = MAX_NOISE_MESSAGE - TAG_LEN;

/// Bytes of the length in front of every application message.
const LEN_BYTES: usize = 4;

/// Limits of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The longest application message sent or accepted (at most `u32::MAX` takes effect).
    pub max_message_len: usize,
    /// Bound on every socket read and write after the handshake.
    pub io_timeout: Duration,
    /// Bound on the whole handshake (and on connecting, in [`Channel::dial`]).
    pub handshake_timeout: Duration,
}

impl Default for ChannelConfig {
    /// 256 MiB messages, 30 s per read or write, 10 s for the handshake.
    fn default() -> Self {
        ChannelConfig {
            max_message_len: 256 * 1024 * 1024,
            io_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// The `what` of a [`ChannelError::Timeout`] that came while no byte of a next message had
/// arrived: the peer is idle between messages, not stalled inside one.
pub const IDLE_WAIT: &str = "the wait for the next message";

impl ChannelError {
    /// Whether this is a [`ChannelError::Timeout`] between messages (see [`IDLE_WAIT`]): for a
    /// server, a client that stopped asking, which is normal.
    pub fn is_idle(&self) -> bool {
        matches!(self, ChannelError::Timeout { what } if *what == IDLE_WAIT)
    }
}

/// Everything that can end a channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The socket failed.
    #[error("channel I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer did not answer in time.
    #[error("timed out during {what}")]
    Timeout {
        /// What was waited for: `connect`, `handshake`, `read`, `write`, or [`IDLE_WAIT`] when
        /// not a byte of a next message arrived (an idle peer, rather than one stalling mid-way).
        what: &'static str,
    },
    /// The Noise handshake failed: malformed or inauthentic handshake messages.
    #[error("Noise handshake failed: {0}")]
    Handshake(String),
    /// The initiator's static key is not one the responder knows; the connection was dropped.
    #[error("the initiator's static key is unknown")]
    UnknownPeer,
    /// The responder's static key is not the one the initiator expected.
    #[error("the responder's static key is not the expected one")]
    PeerKeyMismatch,
    /// An application message is longer than the limit.
    #[error("a message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The message's (declared) length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A transport message failed authentication: it was altered, replayed or reordered.
    #[error("a transport message failed authentication")]
    Decrypt,
    /// The framing is broken.
    #[error("malformed framing: {0}")]
    Frame(String),
    /// The responder closed the connection without confirming the handshake: most likely it does
    /// not know the initiator's static key (a server not in its roster, a data provider the
    /// cloud has not registered), or it stopped at that moment.
    #[error(
        "the server closed the connection without confirming the handshake: it does not know \
         this party's key (is it in the server's roster? a data provider must be registered \
         with the cloud: `dsmpc dp register`), or it was stopping"
    )]
    Unconfirmed,
    /// The peer closed the connection in the middle of a handshake or message, or an earlier error
    /// ended this channel.
    #[error("the connection closed in the middle of a handshake or message")]
    Closed,
}

/// An established, mutually authenticated channel.
pub struct Channel {
    reader: FrameReader,
    writer: FrameWriter,
    transport: TransportState,
    plain: Plaintext,
    remote: [u8; 32],
    max_message_len: usize,
    io_timeout: Duration,
    failed: bool,
    /// An initiator has not yet read the responder's confirmation (see `handshake`).
    unconfirmed: bool,
}

/// The slowest rate at which a message's body may arrive: 1 MiB/s.
pub const MIN_MESSAGE_RATE: u64 = 1 << 20;

/// How long the body of a received message of `len` bytes may take in all: `io_timeout` plus a
/// second for each [`MIN_MESSAGE_RATE`] bytes.
pub fn message_deadline(io_timeout: Duration, len: usize) -> Duration {
    io_timeout + Duration::from_secs((len as u64).div_ceil(MIN_MESSAGE_RATE))
}

/// This side's static X25519 key pair for the handshake. The public half is taken as given (it
/// saves a fixed-base multiplication per connection); a pair that does not match fails every
/// handshake, because the peer's Diffie-Hellman results then differ from ours.
#[derive(Clone, Copy)]
pub struct StaticKey<'a> {
    secret: &'a [u8; 32],
    public: &'a [u8; 32],
}

impl<'a> StaticKey<'a> {
    /// The pair `secret`, `public` (`public` = X25519(`secret`, 9)).
    pub fn new(secret: &'a [u8; 32], public: &'a [u8; 32]) -> Self {
        StaticKey { secret, public }
    }

    /// An identity's Noise key pair: its secret and the public key on its card.
    pub fn of(identity: &'a SecretIdentity) -> Self {
        StaticKey::new(identity.noise_secret(), &identity.card().noise_key)
    }
}

impl fmt::Debug for StaticKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StaticKey(public={}, <redacted>)",
            hex::encode(self.public)
        )
    }
}

impl Channel {
    /// Initiator. After the XX handshake the responder's static key must equal `remote_public`,
    /// else [`ChannelError::PeerKeyMismatch`].
    pub async fn connect(
        stream: TcpStream,
        local: StaticKey<'_>,
        remote_public: &[u8; 32],
        cfg: &ChannelConfig,
    ) -> Result<Channel, ChannelError> {
        let (mut reader, mut writer) = halves(stream, cfg)?;
        let opening = handshake::initiate(&mut reader, &mut writer, local, Some(remote_public));
        let (transport, _) = within_handshake(cfg, opening).await?;
        Ok(Channel::new(reader, writer, transport, *remote_public, cfg).initiated())
    }

    /// Responder. After the handshake the initiator's static key must satisfy `is_known`, else
    /// [`ChannelError::UnknownPeer`] (connection dropped). Returns the peer's static key.
    pub async fn accept(
        stream: TcpStream,
        local: StaticKey<'_>,
        is_known: impl Fn(&[u8; 32]) -> bool,
        cfg: &ChannelConfig,
    ) -> Result<(Channel, [u8; 32]), ChannelError> {
        let (mut reader, mut writer) = halves(stream, cfg)?;
        let opening = handshake::respond(&mut reader, &mut writer, local, is_known);
        let (transport, peer) = within_handshake(cfg, opening).await?;
        Ok((Channel::new(reader, writer, transport, peer, cfg), peer))
    }

    /// Connects to `addr` within the handshake timeout, then [`Channel::connect`].
    pub async fn dial(
        addr: &str,
        local: StaticKey<'_>,
        remote_public: &[u8; 32],
        cfg: &ChannelConfig,
    ) -> Result<Channel, ChannelError> {
        let stream = timeout(cfg.handshake_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ChannelError::Timeout { what: "connect" })??;
        Channel::connect(stream, local, remote_public, cfg).await
    }

    /// Connects to `addr` and completes the handshake with whatever static key the responder has
    /// (trust on first use: only for rendezvous without a roster, such as peer mode). Returns the
    /// channel and the responder's static key.
    pub async fn dial_any(
        addr: &str,
        local: StaticKey<'_>,
        cfg: &ChannelConfig,
    ) -> Result<(Channel, [u8; 32]), ChannelError> {
        let stream = timeout(cfg.handshake_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ChannelError::Timeout { what: "connect" })??;
        let (mut reader, mut writer) = halves(stream, cfg)?;
        let opening = handshake::initiate(&mut reader, &mut writer, local, None);
        let (transport, peer) = within_handshake(cfg, opening).await?;
        let channel = Channel::new(reader, writer, transport, peer, cfg).initiated();
        Ok((channel, peer))
    }

    /// The peer's X25519 static key, as authenticated by the handshake.
    pub fn remote_static(&self) -> &[u8; 32] {
        &self.remote
    }

    /// Sends one application message of up to `max_message_len` bytes, split across as many
    /// transport messages as needed and written in large batches.
    pub async fn send(&mut self, message: &[u8]) -> Result<(), ChannelError> {
        self.queue(message).await?;
        self.flush().await
    }

    /// Encrypts one application message into the write buffer without waiting for it to be
    /// written (the buffer is written only once it is large): several messages queued and then
    /// [flushed](Channel::flush) leave in one system call. Nothing reaches the peer before the
    /// flush.
    pub async fn queue(&mut self, message: &[u8]) -> Result<(), ChannelError> {
        let declared = self.declared_len(message.len())?;
        self.usable()?;
        // Stays set if this future is dropped half-way, when the peer may hold half a message.
        self.failed = true;
        let result = self.queue_message(declared, message).await;
        self.failed = result.is_err();
        result
    }

    /// Writes every queued message.
    pub async fn flush(&mut self) -> Result<(), ChannelError> {
        self.usable()?;
        self.failed = true; // as in `queue`
        let result = self.writer.flush().await;
        self.failed = result.is_err();
        result
    }

    /// Whether bytes of a next message have already arrived, so that [`Channel::recv`] would
    /// start without waiting for the peer: a pipelining peer sent another request behind the one
    /// being answered. (The rest of that message may still be on its way.)
    pub fn has_buffered_input(&self) -> bool {
        self.plain.start < self.plain.end || self.reader.has_buffered()
    }

    /// Receives one application message; `None` when the peer closed the connection cleanly
    /// between messages.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        self.usable()?;
        self.failed = true; // as in `send`
        let result = self.recv_message().await;
        self.failed = result.is_err();
        result
    }

    fn new(
        reader: FrameReader,
        writer: FrameWriter,
        transport: TransportState,
        remote: [u8; 32],
        cfg: &ChannelConfig,
    ) -> Channel {
        Channel {
            reader,
            writer,
            transport,
            plain: Plaintext::default(),
            remote,
            max_message_len: cfg.max_message_len.min(u32::MAX as usize),
            io_timeout: cfg.io_timeout,
            failed: false,
            unconfirmed: false,
        }
    }

    /// This channel as the initiator's: the responder's confirmation is read before the first
    /// message received.
    fn initiated(mut self) -> Channel {
        self.unconfirmed = true;
        self
    }

    /// Refuses use after an error.
    fn usable(&self) -> Result<(), ChannelError> {
        match self.failed {
            true => Err(ChannelError::Closed),
            false => Ok(()),
        }
    }

    /// The u32 length prefix of a message of `len` bytes, if within the limit.
    fn declared_len(&self, len: usize) -> Result<[u8; LEN_BYTES], ChannelError> {
        let too_large = ChannelError::TooLarge {
            len,
            max: self.max_message_len,
        };
        if len > self.max_message_len {
            return Err(too_large);
        }
        u32::try_from(len)
            .map(u32::to_le_bytes)
            .map_err(|_| too_large)
    }

    async fn queue_message(
        &mut self,
        declared: [u8; LEN_BYTES],
        message: &[u8],
    ) -> Result<(), ChannelError> {
        let (head, tail) = message.split_at(message.len().min(MAX_PAYLOAD - LEN_BYTES));
        let first = [&declared[..], head].concat();
        self.seal(&first).await?;
        for chunk in tail.chunks(MAX_PAYLOAD) {
            self.seal(chunk).await?;
        }
        Ok(())
    }

    /// Encrypts one transport payload into the write buffer, writing the buffer once it is large.
    async fn seal(&mut self, payload: &[u8]) -> Result<(), ChannelError> {
        let slot = self.writer.slot(payload.len() + TAG_LEN)?;
        self.transport
            .write_message(payload, slot)
            .map_err(|e| ChannelError::Frame(format!("cannot encrypt: {e}")))?;
        if self.writer.pending() >= WRITE_BATCH {
            self.writer.flush().await?;
        }
        Ok(())
    }

    async fn recv_message(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        if self.unconfirmed {
            // An initiator that reads before it sent anything: its third handshake message (and
            // anything queued) must leave first, or the responder never completes the handshake.
            if self.writer.pending() > 0 {
                self.writer.flush().await?;
            }
            if !handshake::read_confirmation(&mut self.transport, &mut self.reader).await? {
                return Err(ChannelError::Unconfirmed);
            }
            self.unconfirmed = false;
        }
        let trickled = |_| ChannelError::Timeout {
            what: "a whole message",
        };
        // A second beyond `io_timeout`, so that a peer idle between messages meets the read's
        // own timeout (`IDLE_WAIT`) first.
        let prefix_deadline = self.io_timeout + Duration::from_secs(1);
        let declared = timeout(prefix_deadline, self.read_declared_len()).await;
        let Some(declared) = declared.map_err(trickled)?? else {
            return Ok(None);
        };
        let len = usize::try_from(u32::from_le_bytes(declared)).unwrap_or(usize::MAX);
        if len > self.max_message_len {
            return Err(ChannelError::TooLarge {
                len,
                max: self.max_message_len,
            });
        }
        // Room for one tag more, so that a transport message ending the application message can
        // be decrypted in place. Filled (and zeroed) a transport message at a time, while the
        // memory is in cache.
        let mut message = Vec::with_capacity(len + TAG_LEN);
        self.plain.take_into(&mut message, len);
        let deadline = message_deadline(self.io_timeout, len);
        let body = async {
            while message.len() < len {
                self.read_body(&mut message, len).await?;
            }
            Ok::<(), ChannelError>(())
        };
        timeout(deadline, body).await.map_err(trickled)??;
        Ok(Some(message))
    }

    /// The u32 prefix of the next application message; `None` on a clean EOF before it.
    async fn read_declared_len(&mut self) -> Result<Option<[u8; LEN_BYTES]>, ChannelError> {
        let mut declared = [0u8; LEN_BYTES];
        let mut got = self.plain.take(&mut declared);
        while got < LEN_BYTES {
            let idle = got == 0 && !self.reader.has_buffered();
            let next = self.reader.next().await.map_err(|e| match e {
                ChannelError::Timeout { .. } if idle => ChannelError::Timeout { what: IDLE_WAIT },
                other => other,
            });
            let Some(noise) = next? else {
                return if got == 0 {
                    Ok(None)
                } else {
                    Err(ChannelError::Closed)
                };
            };
            self.plain.open(&mut self.transport, noise)?;
            got += self.plain.take(&mut declared[got..]);
        }
        Ok(Some(declared))
    }

    /// Reads one transport message into `message`, up to `len` bytes: in place when its payload
    /// fits, else through the plaintext buffer, which keeps what lies beyond `len`.
    async fn read_body(&mut self, message: &mut Vec<u8>, len: usize) -> Result<(), ChannelError> {
        let noise = self.reader.next().await?.ok_or(ChannelError::Closed)?;
        check_tag(noise)?;
        let filled = message.len();
        if noise.len() - TAG_LEN > len - filled {
            self.plain.open(&mut self.transport, noise)?;
            self.plain.take_into(message, len);
            return Ok(());
        }
        message.resize(filled + noise.len(), 0);
        let opened = open(&mut self.transport, noise, &mut message[filled..])?;
        message.truncate(filled + opened);
        Ok(())
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("remote_static", &self.remote)
            .field("max_message_len", &self.max_message_len)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Splits `stream` into framed halves, with Nagle's algorithm off: messages are written whole.
fn halves(
    stream: TcpStream,
    cfg: &ChannelConfig,
) -> Result<(FrameReader, FrameWriter), ChannelError> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    Ok((
        FrameReader::new(read, cfg.io_timeout),
        FrameWriter::new(write, cfg.io_timeout),
    ))
}

/// Runs a handshake within the configured timeout.
async fn within_handshake<T>(
    cfg: &ChannelConfig,
    handshake: impl Future<Output = Result<T, ChannelError>>,
) -> Result<T, ChannelError> {
    timeout(cfg.handshake_timeout, handshake)
        .await
        .map_err(|_| ChannelError::Timeout { what: "handshake" })?
}

/// Refuses a transport message too short to hold its tag.
fn check_tag(noise: &[u8]) -> Result<(), ChannelError> {
    match noise.len() < TAG_LEN {
        true => Err(ChannelError::Frame(format!(
            "a transport message of {} bytes is shorter than its tag",
            noise.len()
        ))),
        false => Ok(()),
    }
}

/// Decrypts one transport message into `room` (at least as long as the message). Returns the
/// payload length.
fn open(
    transport: &mut TransportState,
    noise: &[u8],
    room: &mut [u8],
) -> Result<usize, ChannelError> {
    check_tag(noise)?;
    transport.read_message(noise, room).map_err(|e| match e {
        snow::Error::Decrypt => ChannelError::Decrypt,
        other => ChannelError::Frame(format!("cannot decrypt: {other}")),
    })
}

/// Decrypted bytes not yet handed out: the rest of a transport message that held the end of one
/// application message and the start of the next, or a length prefix.
#[derive(Default)]
struct Plaintext {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Plaintext {
    /// Decrypts `noise` into the (drained) buffer, which grows to the largest transport message
    /// seen (at most 65535 bytes): a connection that carries only small messages never zeroes
    /// the full 64 KiB, which was a memset of 64 KiB per connection side.
    fn open(&mut self, transport: &mut TransportState, noise: &[u8]) -> Result<(), ChannelError> {
        if self.buf.len() < noise.len() {
            self.buf.resize(noise.len(), 0);
        }
        self.end = open(transport, noise, &mut self.buf)?;
        self.start = 0;
        Ok(())
    }

    /// Moves buffered bytes to the end of `message` until it holds `len` bytes.
    fn take_into(&mut self, message: &mut Vec<u8>, len: usize) {
        let n = len.saturating_sub(message.len()).min(self.end - self.start);
        message.extend_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
    }

    /// Moves as many buffered bytes as fit into `out`; returns how many.
    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        n
    }
}
