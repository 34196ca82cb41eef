//! Channel tests on 127.0.0.1: round trips, authentication failures, hostile and stalled peers.

use std::time::{Duration, Instant};

use dsmpc_core::identity::{PartyId, Role, SecretIdentity};
use dsmpc_core::rng::os_rng;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::*;

/// A static X25519 key pair.
#[derive(Clone, Copy)]
struct Keys {
    secret: [u8; 32],
    public: [u8; 32],
}

impl Keys {
    fn key(&self) -> StaticKey<'_> {
        StaticKey::new(&self.secret, &self.public)
    }
}

fn keys() -> Keys {
    let builder = snow::Builder::with_resolver(
        handshake::NOISE_PARAMS.parse().unwrap(),
        x25519::resolver(None),
    );
    let pair = builder.generate_keypair().unwrap();
    Keys {
        secret: pair.private.try_into().unwrap(),
        public: pair.public.try_into().unwrap(),
    }
}

/// Generous limits for the round trips.
fn roomy() -> ChannelConfig {
    ChannelConfig {
        max_message_len: 32 << 20,
        io_timeout: Duration::from_secs(5),
        handshake_timeout: Duration::from_secs(5),
    }
}

/// Short timeouts, for the tests that wait on a silent peer.
fn brisk() -> ChannelConfig {
    ChannelConfig {
        max_message_len: 1 << 20,
        io_timeout: Duration::from_millis(300),
        handshake_timeout: Duration::from_millis(300),
    }
}

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// Accepts one connection as `server`, knowing only `known`.
fn accept_one(
    listener: TcpListener,
    server: Keys,
    known: [u8; 32],
    cfg: ChannelConfig,
) -> JoinHandle<Result<(Channel, [u8; 32]), ChannelError>> {
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        Channel::accept(stream, server.key(), |k| *k == known, &cfg).await
    })
}

/// A connected (client, server) pair.
async fn pair(client_cfg: ChannelConfig, server_cfg: ChannelConfig) -> (Channel, Channel) {
    let (client, server) = (keys(), keys());
    let (listener, addr) = listen().await;
    let accepting = accept_one(listener, server, client.public, server_cfg);
    let mut client_side = Channel::dial(&addr, client.key(), &server.public, &client_cfg)
        .await
        .unwrap();
    // The third handshake message waits for the first message; the tests start from an empty
    // write buffer.
    client_side.flush().await.unwrap();
    let (server_side, peer) = accepting.await.unwrap().unwrap();
    assert_eq!(peer, client.public);
    assert_eq!(client_side.remote_static(), &server.public);
    assert_eq!(server_side.remote_static(), &client.public);
    (client_side, server_side)
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) + seed) as u8)
        .collect()
}

/// Fails the test instead of hanging when `fut` takes more than two seconds.
async fn soon<T>(fut: impl Future<Output = T>) -> T {
    timeout(Duration::from_secs(2), fut)
        .await
        .expect("no answer within 2 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_every_size_round_trip_in_both_directions() {
    let sizes = [0, 1, 65519, 65520, 65536, (1 << 20) + 7, 20 << 20];
    let (mut client, mut server) = pair(roomy(), roomy()).await;
    let echo = tokio::spawn(async move {
        let mut received = Vec::new();
        for _ in sizes {
            received.push(server.recv().await.unwrap().unwrap());
        }
        for message in received.iter().rev() {
            server.send(message).await.unwrap();
        }
    });
    for (seed, len) in sizes.into_iter().enumerate() {
        client.send(&pattern(len, seed)).await.unwrap();
    }
    for (seed, len) in sizes.into_iter().enumerate().rev() {
        let echoed = client.recv().await.unwrap().unwrap();
        assert_eq!(echoed.len(), len);
        assert!(echoed == pattern(len, seed), "message of {len} bytes");
    }
    echo.await.unwrap();
}

#[tokio::test]
async fn project_identities_open_channels() {
    let id = |name| PartyId::new(name).unwrap();
    let cloud = SecretIdentity::generate(id("cloud"), Role::Cloud, &mut os_rng());
    let cp = SecretIdentity::generate(id("cp1"), Role::Cp, &mut os_rng());
    let (listener, addr) = listen().await;
    let cloud = std::sync::Arc::new(cloud);
    let cp_key = cp.card().noise_key;
    let serving = cloud.clone();
    let accepting = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let known = |k: &[u8; 32]| *k == cp_key;
        let local = StaticKey::of(&serving);
        let (mut channel, _) = Channel::accept(stream, local, known, &roomy()).await?;
        channel.recv().await
    });
    let cloud_key = cloud.card().noise_key;
    let mut channel = Channel::dial(&addr, StaticKey::of(&cp), &cloud_key, &roomy())
        .await
        .unwrap();
    channel.send(b"hello cloud").await.unwrap();
    let got = accepting.await.unwrap().unwrap();
    assert_eq!(got.as_deref(), Some(&b"hello cloud"[..]));
}

/// The initiator's third handshake message leaves with its first message, in one write: until
/// then the responder's handshake is not complete.
#[tokio::test]
async fn the_last_handshake_message_leaves_with_the_first_message() {
    let (client, server) = (keys(), keys());
    let (listener, addr) = listen().await;
    let accepting = accept_one(listener, server, client.public, brisk());
    let mut channel = soon(Channel::dial(&addr, client.key(), &server.public, &brisk()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !accepting.is_finished(),
        "the handshake completed before the initiator sent anything"
    );
    channel.send(b"first").await.unwrap();
    let (mut server_side, _) = soon(accepting).await.unwrap().unwrap();
    assert_eq!(
        soon(server_side.recv()).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

/// An initiator that reads before it sends anything writes its third handshake message first, so
/// a responder that speaks first is heard.
#[tokio::test]
async fn an_initiator_that_reads_first_completes_the_handshake() {
    let (client, server) = (keys(), keys());
    let (listener, addr) = listen().await;
    let accepting = accept_one(listener, server, client.public, brisk());
    let speaking = tokio::spawn(async move {
        let (mut channel, _) = accepting.await.unwrap()?;
        channel.send(b"welcome").await
    });
    let mut channel = soon(Channel::dial(&addr, client.key(), &server.public, &brisk()))
        .await
        .unwrap();
    assert_eq!(
        soon(channel.recv()).await.unwrap().as_deref(),
        Some(&b"welcome"[..])
    );
    soon(speaking).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_wrong_responder_key_is_refused_before_the_initiator_shows_its_own() {
    let (client, server, impostor) = (keys(), keys(), keys());
    let (listener, addr) = listen().await;
    let accepting = accept_one(listener, server, client.public, brisk());
    let err = soon(Channel::dial(
        &addr,
        client.key(),
        &impostor.public,
        &brisk(),
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, ChannelError::PeerKeyMismatch), "{err:?}");
    let server_err = soon(accepting).await.unwrap().unwrap_err();
    assert!(
        matches!(server_err, ChannelError::Closed | ChannelError::Io(_)),
        "{server_err:?}"
    );
}

#[tokio::test]
async fn an_unknown_initiator_is_dropped_and_told_nothing() {
    let (client, server, friend) = (keys(), keys(), keys());
    let (listener, addr) = listen().await;
    let accepting = accept_one(listener, server, friend.public, brisk());
    // The initiator does not wait for the confirmation: it sends its request, and learns of the
    // refusal when it waits for the answer (the confirmation never comes).
    let mut channel = soon(Channel::dial(&addr, client.key(), &server.public, &brisk()))
        .await
        .unwrap();
    let _ = channel.send(b"a request").await;
    let answer = soon(channel.recv()).await;
    assert!(
        matches!(
            answer,
            Ok(None) | Err(ChannelError::Unconfirmed | ChannelError::Closed | ChannelError::Io(_))
        ),
        "{answer:?}"
    );
    let server_err = soon(accepting).await.unwrap().unwrap_err();
    assert!(
        matches!(server_err, ChannelError::UnknownPeer),
        "{server_err:?}"
    );
}

/// What an acceptor makes of `bytes` followed by the end of the stream.
async fn accept_after(bytes: &[u8]) -> ChannelError {
    let (listener, addr) = listen().await;
    let server = keys();
    let accepting = accept_one(listener, server, keys().public, brisk());
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    raw.write_all(bytes).await.unwrap();
    raw.shutdown().await.unwrap();
    let err = soon(accepting).await.unwrap().unwrap_err();
    drop(raw);
    err
}

fn framed(len: u16, body: &[u8]) -> Vec<u8> {
    [&len.to_be_bytes()[..], body].concat()
}

#[tokio::test]
async fn garbage_truncation_and_early_close_fail_the_acceptor_cleanly() {
    let closed = [
        Vec::new(),
        b"GET / HTTP/1.1\r\nHost: cp1\r\n\r\n".to_vec(),
        framed(32, &[7; 10]),
        vec![0],
    ];
    for bytes in closed {
        let err = accept_after(&bytes).await;
        assert!(matches!(err, ChannelError::Closed), "{bytes:?}: {err:?}");
    }
    let bad_third = [framed(32, &[7; 32]), framed(64, &[9; 64])].concat();
    let refused = [framed(0, &[]), framed(40, &[7; 40]), bad_third];
    for bytes in refused {
        let err = accept_after(&bytes).await;
        assert!(
            matches!(err, ChannelError::Handshake(_)),
            "{bytes:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_garbage_responder_fails_the_initiator_cleanly() {
    let (listener, addr) = listen().await;
    let answering = tokio::spawn(async move {
        let (mut raw, _) = listener.accept().await.unwrap();
        raw.write_all(&framed(96, &[5; 96])).await.unwrap();
        raw
    });
    let (client, server) = (keys(), keys());
    let err = soon(Channel::dial(&addr, client.key(), &server.public, &brisk()))
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::Handshake(_)), "{err:?}");
    drop(answering.await.unwrap());
}

#[tokio::test]
async fn a_silent_peer_times_out_the_handshake() {
    // Reads alone would wait longer: the handshake's own bound must end it.
    let cfg = ChannelConfig {
        io_timeout: Duration::from_secs(1),
        ..brisk()
    };
    let (listener, addr) = listen().await;
    let accepting = accept_one(listener, keys(), keys().public, cfg.clone());
    let raw = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let err = soon(accepting).await.unwrap().unwrap_err();
    assert!(
        matches!(err, ChannelError::Timeout { what: "handshake" }),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    drop(raw);

    // A listener that never answers: the initiator gives up as well.
    let (listener, addr) = listen().await;
    let (client, server) = (keys(), keys());
    let err = soon(Channel::dial(&addr, client.key(), &server.public, &cfg))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChannelError::Timeout { what: "handshake" }),
        "{err:?}"
    );
    drop(listener);
}

#[tokio::test]
async fn a_silent_peer_times_out_reads() {
    let (_client, mut server) = pair(brisk(), brisk()).await;
    let started = Instant::now();
    let err = soon(server.recv()).await.unwrap_err();
    assert!(err.is_idle(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_stalled_message_times_out() {
    let (mut client, mut server) = pair(brisk(), brisk()).await;
    let half = [&100u32.to_le_bytes()[..], &[1; 10]].concat();
    client.seal(&half).await.unwrap();
    client.writer.flush().await.unwrap();
    let err = soon(server.recv()).await.unwrap_err();
    assert!(
        matches!(err, ChannelError::Timeout { what: "read" }),
        "{err:?}"
    );
    assert!(!err.is_idle(), "a stall inside a message is not idleness");
    assert!(matches!(server.recv().await, Err(ChannelError::Closed)));
}

/// A peer that sends a message's body a byte at a time, each within the read timeout, is cut
/// off once the message's deadline has passed, not kept for as long as it likes.
#[tokio::test]
async fn a_trickled_message_times_out_as_a_whole() {
    let (mut client, mut server) = pair(brisk(), brisk()).await;
    let start = [&100u32.to_le_bytes()[..], &[1]].concat();
    client.seal(&start).await.unwrap();
    client.writer.flush().await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..99 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            if client.seal(&[1]).await.is_err() || client.writer.flush().await.is_err() {
                break;
            }
        }
    });
    // The body alone would take 15 s; its deadline is 1.3 s (0.3 s and a second for 100 bytes).
    let err = timeout(Duration::from_secs(5), server.recv())
        .await
        .expect("cut off before the trickle ends")
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChannelError::Timeout {
                what: "a whole message"
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_idle());
    trickle.abort();
}

#[test]
fn a_message_may_take_its_timeout_and_a_second_a_mib() {
    let io = Duration::from_secs(30);
    assert_eq!(super::message_deadline(io, 0), io);
    assert_eq!(super::message_deadline(io, 1), io + Duration::from_secs(1));
    assert_eq!(
        super::message_deadline(io, 256 << 20),
        io + Duration::from_secs(256)
    );
}

#[tokio::test]
async fn oversized_messages_are_refused_on_both_sides() {
    let small = ChannelConfig {
        max_message_len: 1024,
        ..brisk()
    };
    let (mut client, mut server) = pair(small.clone(), small.clone()).await;
    let err = client.send(&[0; 1025]).await.unwrap_err();
    assert!(
        matches!(
            err,
            ChannelError::TooLarge {
                len: 1025,
                max: 1024
            }
        ),
        "{err:?}"
    );
    client.send(&[3; 1024]).await.unwrap();
    assert_eq!(server.recv().await.unwrap().unwrap(), vec![3; 1024]);

    // A declared length of 4 GiB − 1 with no body: refused at once, nothing allocated.
    client.seal(&u32::MAX.to_le_bytes()).await.unwrap();
    client.writer.flush().await.unwrap();
    let err = soon(server.recv()).await.unwrap_err();
    let declared = u32::MAX as usize;
    assert!(
        matches!(err, ChannelError::TooLarge { len, max: 1024 } if len == declared),
        "{err:?}"
    );
    assert!(matches!(server.recv().await, Err(ChannelError::Closed)));

    // A peer with a larger limit sends a message over ours.
    let (mut client, mut server) = pair(brisk(), small).await;
    client.send(&[1; 2000]).await.unwrap();
    let err = soon(server.recv()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ChannelError::TooLarge {
                len: 2000,
                max: 1024
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn eof_between_messages_is_clean_and_inside_one_is_an_error() {
    let (mut client, mut server) = pair(brisk(), brisk()).await;
    client.send(b"last words").await.unwrap();
    drop(client);
    assert_eq!(server.recv().await.unwrap().unwrap(), b"last words");
    assert!(matches!(server.recv().await, Ok(None)));

    // The length prefix and 10 of 100 bytes.
    let (mut client, mut server) = pair(brisk(), brisk()).await;
    let half = [&100u32.to_le_bytes()[..], &[1; 10]].concat();
    client.seal(&half).await.unwrap();
    client.writer.flush().await.unwrap();
    drop(client);
    let err = soon(server.recv()).await.unwrap_err();
    assert!(matches!(err, ChannelError::Closed), "{err:?}");

    // Half of the u16 prefix of a Noise message; then a Noise message cut short.
    for raw in [vec![0], framed(300, &[1; 20])] {
        let (mut client, mut server) = pair(brisk(), brisk()).await;
        client.writer.push_raw(&raw);
        client.writer.flush().await.unwrap();
        drop(client);
        let err = soon(server.recv()).await.unwrap_err();
        assert!(matches!(err, ChannelError::Closed), "{err:?}");
    }
}

#[tokio::test]
async fn a_transport_message_shorter_than_its_tag_is_a_framing_error() {
    let (mut client, mut server) = pair(brisk(), brisk()).await;
    client.writer.push(&[1, 2, 3]).unwrap();
    client.writer.flush().await.unwrap();
    let err = soon(server.recv()).await.unwrap_err();
    assert!(matches!(err, ChannelError::Frame(_)), "{err:?}");
}

#[tokio::test]
async fn tampered_or_replayed_transport_messages_fail_authentication() {
    // The first ciphertext byte, one in the middle, the last byte of the tag.
    for offset in [2, 5, 2 + LEN_BYTES + 3 + TAG_LEN - 1] {
        let (mut client, mut server) = pair(brisk(), brisk()).await;
        client
            .seal(&[&3u32.to_le_bytes()[..], b"abc"].concat())
            .await
            .unwrap();
        client.writer.buffered_mut()[offset] ^= 0x01;
        client.writer.flush().await.unwrap();
        let err = soon(server.recv()).await.unwrap_err();
        assert!(
            matches!(err, ChannelError::Decrypt),
            "byte {offset}: {err:?}"
        );
    }

    let (mut client, mut server) = pair(brisk(), brisk()).await;
    client
        .seal(&[&3u32.to_le_bytes()[..], b"abc"].concat())
        .await
        .unwrap();
    let copy = client.writer.buffered_mut().to_vec();
    client.writer.flush().await.unwrap();
    client.writer.push_raw(&copy);
    client.writer.flush().await.unwrap();
    assert_eq!(server.recv().await.unwrap().unwrap(), b"abc");
    let err = soon(server.recv()).await.unwrap_err();
    assert!(matches!(err, ChannelError::Decrypt), "{err:?}");
}

#[tokio::test]
async fn dialling_a_closed_port_is_an_io_error() {
    let (listener, addr) = listen().await;
    drop(listener);
    let (client, server) = (keys(), keys());
    let err = soon(Channel::dial(&addr, client.key(), &server.public, &brisk()))
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::Io(_)), "{err:?}");
}

#[tokio::test]
async fn a_cancelled_receive_finishes_the_channel() {
    let (mut client, mut server) = pair(brisk(), brisk()).await;
    let waited = timeout(Duration::from_millis(50), server.recv()).await;
    assert!(waited.is_err(), "nothing was sent");
    client.send(b"late").await.unwrap();
    assert!(matches!(server.recv().await, Err(ChannelError::Closed)));
}

#[tokio::test]
async fn messages_cut_anywhere_into_transport_payloads_are_reassembled() {
    let (mut client, mut server) = pair(brisk(), brisk()).await;
    let prefixed = |m: &[u8]| [&(m.len() as u32).to_le_bytes()[..], m].concat();
    // Two whole messages and the start of a third in one payload, the rest in the next.
    let stream = [prefixed(b"abc"), prefixed(b"de"), prefixed(b"fghij")].concat();
    let (first, second) = stream.split_at(stream.len() - 3);
    client.seal(first).await.unwrap();
    client.seal(second).await.unwrap();
    // One byte per payload, with empty payloads in between.
    for byte in prefixed(b"wxyz") {
        client.seal(&[]).await.unwrap();
        client.seal(&[byte]).await.unwrap();
    }
    client.writer.flush().await.unwrap();
    drop(client);
    for expected in [&b"abc"[..], b"de", b"fghij", b"wxyz"] {
        assert_eq!(server.recv().await.unwrap().unwrap(), expected);
    }
    assert!(matches!(server.recv().await, Ok(None)));
}

/// Queued messages reach the peer at the flush, all of them in order, and the receiver can tell
/// that more have arrived behind the one it read.
#[tokio::test]
async fn queued_messages_arrive_in_order_at_the_flush() {
    let (mut client, mut server) = pair(roomy(), roomy()).await;
    let large = vec![7u8; 3 * MAX_PAYLOAD + 11];
    let messages = [b"first".to_vec(), large, Vec::new(), b"last".to_vec()];
    for m in &messages {
        client.queue(m).await.unwrap();
    }
    client.flush().await.unwrap();
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(server.recv().await.unwrap().as_deref(), Some(&m[..]));
        // All were written at once: behind each but the last, the next has arrived.
        let more = i + 1 < messages.len();
        if more {
            assert!(
                server.has_buffered_input(),
                "message {} not buffered",
                i + 1
            );
        }
    }
    assert!(!server.has_buffered_input());
    client.send(b"alone").await.unwrap();
    assert_eq!(server.recv().await.unwrap().as_deref(), Some(&b"alone"[..]));
    assert!(!server.has_buffered_input());
}

/// A message over the limit is refused when queued, before anything is written, and the
/// channel stays usable.
#[tokio::test]
async fn an_oversized_queued_message_is_refused_and_the_channel_stays_usable() {
    let (mut client, mut server) = pair(brisk(), roomy()).await;
    let too_large = vec![0u8; (1 << 20) + 1];
    assert!(matches!(
        client.queue(&too_large).await,
        Err(ChannelError::TooLarge { .. })
    ));
    client.queue(b"fine").await.unwrap();
    client.flush().await.unwrap();
    assert_eq!(server.recv().await.unwrap().as_deref(), Some(&b"fine"[..]));
}

/// A static key whose public half does not belong to its secret fails the handshake on either
/// side: the peer's Diffie-Hellman results differ from ours, so authentication fails.
#[tokio::test]
async fn a_public_half_that_does_not_match_the_secret_fails_the_handshake() {
    let (client, server, stranger) = (keys(), keys(), keys());
    for lying_side in ["initiator", "responder"] {
        let (listener, addr) = listen().await;
        let claimed = if lying_side == "responder" {
            stranger.public
        } else {
            server.public
        };
        let accepting = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let local = StaticKey::new(&server.secret, &claimed);
            Channel::accept(stream, local, |_| true, &brisk()).await
        });
        let client_claims = if lying_side == "initiator" {
            stranger.public
        } else {
            client.public
        };
        let dialled = soon(async {
            let local = StaticKey::new(&client.secret, &client_claims);
            let mut channel = Channel::dial(&addr, local, &claimed, &brisk()).await?;
            channel.send(b"hello").await?;
            channel.recv().await
        })
        .await;
        let accepted = soon(accepting).await.unwrap();
        assert!(
            dialled.is_err() || accepted.is_err(),
            "{lying_side}: the handshake went through"
        );
        if let Ok((mut channel, _)) = accepted {
            assert!(
                channel.recv().await.is_err(),
                "{lying_side}: the responder read a message"
            );
        }
    }
}

#[test]
fn a_static_key_debug_shows_only_the_public_half() {
    let k = keys();
    let shown = format!("{:?}", k.key());
    assert!(shown.contains(&hex::encode(k.public)));
    assert!(!shown.contains(&hex::encode(k.secret)));
}
