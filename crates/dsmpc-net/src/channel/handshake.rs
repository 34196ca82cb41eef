//! The Noise XX handshake that opens a channel, and the responder's confirmation that closes it.
//!
//! XX sends both static keys encrypted. The initiator learns the responder's key from the second
//! message and goes no further unless it is the key it expected, so a wrong responder never learns
//! who called. The responder learns the initiator's key from the third message and drops the
//! connection unless the caller knows it; only then does it confirm with an empty transport
//! message, so an initiator that was refused sees the connection closed instead of an answer.
//!
//! The initiator does not wait for the confirmation before it sends: the third handshake message
//! stays in its write buffer and leaves in one write with its first message (which is already
//! encrypted to the responder it verified), and the confirmation is read before the first answer
//! ([`read_confirmation`]). The responder queues the confirmation and writes it with its first
//! message. That saves a round trip per connection, and a write and a wake-up on each side.

use snow::{HandshakeState, TransportState};

use super::frame::{FrameReader, FrameWriter};
use super::{ChannelError, StaticKey, TAG_LEN};

/// The Noise protocol name.
pub(super) const NOISE_PARAMS: &str = "Noise_XX_25519_AESGCM_SHA256";

/// Bound into the handshake hash, so that a dsmpc channel cannot be confused with another use of
/// the same keys.
pub(super) const PROLOGUE: &[u8] = b"dsmpc/v1/channel";

/// Room for any handshake message this side writes (the largest, `e, ee, s, es`, is 96 bytes).
const HANDSHAKE_BUF: usize = 256;

/// The initiator's side (`remote_public`: the key the responder must have, or `None` to accept
/// any, trust on first use): `-> e`, `<- e, ee, s, es`, `-> s, se`. The third message is left in
/// `writer`, to leave with the first message sent (the channel writes it before its first read
/// if nothing was sent by then). The responder's confirmation is left for [`read_confirmation`]
/// before the first received message.
pub(super) async fn initiate(
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    local: StaticKey<'_>,
    remote_public: Option<&[u8; 32]>,
) -> Result<(TransportState, [u8; 32]), ChannelError> {
    let mut state = builder(local)?.build_initiator().map_err(handshake_error)?;
    write_message(&mut state, writer).await?;
    read_message(&mut state, reader).await?;
    let remote = remote_static(&state)?;
    if remote_public.is_some_and(|expected| *expected != remote) {
        return Err(ChannelError::PeerKeyMismatch);
    }
    queue_message(&mut state, writer)?;
    let transport = state.into_transport_mode().map_err(handshake_error)?;
    Ok((transport, remote))
}

/// The responder's side: the three XX messages, the check of the initiator's static key, then the
/// confirmation, queued to leave with the responder's first message. Returns the transport state and the initiator's static key.
pub(super) async fn respond(
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    local: StaticKey<'_>,
    is_known: impl Fn(&[u8; 32]) -> bool,
) -> Result<(TransportState, [u8; 32]), ChannelError> {
    let mut state = builder(local)?.build_responder().map_err(handshake_error)?;
    read_message(&mut state, reader).await?;
    write_message(&mut state, writer).await?;
    read_message(&mut state, reader).await?;
    let peer = remote_static(&state)?;
    if !is_known(&peer) {
        return Err(ChannelError::UnknownPeer);
    }
    let mut transport = state.into_transport_mode().map_err(handshake_error)?;
    queue_confirmation(&mut transport, writer)?;
    Ok((transport, peer))
}

/// A handshake builder with this side's static key and the prologue.
fn builder(local: StaticKey<'_>) -> Result<snow::Builder<'_>, ChannelError> {
    let params = NOISE_PARAMS.parse().map_err(handshake_error)?;
    snow::Builder::with_resolver(params, super::x25519::resolver(Some(*local.public)))
        .local_private_key(local.secret)
        .and_then(|b| b.prologue(PROLOGUE))
        .map_err(handshake_error)
}

/// Writes the next handshake message, with an empty payload.
async fn write_message(
    state: &mut HandshakeState,
    writer: &mut FrameWriter,
) -> Result<(), ChannelError> {
    queue_message(state, writer)?;
    writer.flush().await
}

/// Queues the next handshake message, with an empty payload, in `writer`.
fn queue_message(state: &mut HandshakeState, writer: &mut FrameWriter) -> Result<(), ChannelError> {
    let mut message = [0u8; HANDSHAKE_BUF];
    let len = state
        .write_message(&[], &mut message)
        .map_err(handshake_error)?;
    writer.push(&message[..len])
}

/// Reads the next handshake message; its payload must be empty.
async fn read_message(
    state: &mut HandshakeState,
    reader: &mut FrameReader,
) -> Result<(), ChannelError> {
    let message = reader.next().await?.ok_or(ChannelError::Closed)?;
    let mut payload = vec![0u8; message.len()];
    let len = state
        .read_message(message, &mut payload)
        .map_err(handshake_error)?;
    match len {
        0 => Ok(()),
        _ => Err(ChannelError::Handshake(
            "a handshake message carried a payload".into(),
        )),
    }
}

/// The peer's static key, which XX has delivered by the time this is called.
fn remote_static(state: &HandshakeState) -> Result<[u8; 32], ChannelError> {
    state
        .get_remote_static()
        .and_then(|key| <[u8; 32]>::try_from(key).ok())
        .ok_or_else(|| ChannelError::Handshake("no remote static key".into()))
}

/// The responder accepts the initiator with one empty transport message, queued in `writer`.
fn queue_confirmation(
    transport: &mut TransportState,
    writer: &mut FrameWriter,
) -> Result<(), ChannelError> {
    let slot = writer.slot(TAG_LEN)?;
    transport
        .write_message(&[], slot)
        .map_err(handshake_error)?;
    Ok(())
}

/// The initiator reads the responder's confirmation, one empty, authentic transport message,
/// before anything else the responder sent. `false` if the responder closed the connection
/// cleanly instead: it refused the initiator, or accepted it and closed without a word (the
/// confirmation leaves with the responder's first message).
pub(super) async fn read_confirmation(
    transport: &mut TransportState,
    reader: &mut FrameReader,
) -> Result<bool, ChannelError> {
    let Some(message) = reader.next().await? else {
        return Ok(false);
    };
    if message.len() != TAG_LEN {
        return Err(ChannelError::Handshake(
            "the confirmation is not an empty transport message".into(),
        ));
    }
    let mut payload = [0u8; TAG_LEN];
    transport
        .read_message(message, &mut payload)
        .map_err(|_| ChannelError::Decrypt)?;
    Ok(true)
}

/// A snow error during the handshake. Kept local: nothing about it is sent to the peer.
fn handshake_error(err: snow::Error) -> ChannelError {
    ChannelError::Handshake(err.to_string())
}
