//! Messages on the wire: the versioned envelope every message travels in, and the encryption
//! contexts that bind a sealed box to its task, sender, recipient and index.
//!
//! Envelope layout: `version u8 (= 1) ‖ kind u8 ‖ task id [16] ‖ sender (u8 len ‖ id) ‖ body`.
//! Decoding refuses unknown versions and kinds, truncation, and trailing bytes.

use crate::codec::{CodecError, Decode, Encode, Reader, Writer, decode_exact};
use crate::crypto::kem::SealedBox;
use crate::identity::{PartyId, Role};
use crate::round1::{AdmissionGrant, AdmissionRequest, Committee};
use crate::round2::{Bundle, BundleCore, ShareDelivery};
use crate::round3::{InputSet, VerificationReport};
use crate::round4::{ResultShare, TaskResult};
use crate::signed::Signed;
use crate::task::{Task, TaskId};

/// The protocol version this build speaks; the first byte of every envelope.
pub const VERSION: u8 = 6;

impl Encode for SealedBox {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.ephemeral);
        w.bytes(&self.ciphertext);
    }
}

impl Decode for SealedBox {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(SealedBox {
            ephemeral: r.array("ephemeral key")?,
            ciphertext: r.bytes("ciphertext")?.to_vec(),
        })
    }
}

/// The associated data of a sealed box: protocol version, purpose, task, sender id and role,
/// recipient id and role, and the CP index it concerns (0 where none does).
pub fn seal_context(
    purpose: &str,
    task: &TaskId,
    sender: (&PartyId, Role),
    recipient: (&PartyId, Role),
    index: u32,
) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(VERSION);
    w.fixed(b"dsmpc/v1/");
    w.fixed(purpose.as_bytes());
    w.u8(0);
    task.encode(&mut w);
    sender.0.encode(&mut w);
    w.u8(sender.1.code());
    recipient.0.encode(&mut w);
    w.u8(recipient.1.code());
    w.u32(index);
    w.into_bytes()
}

/// Declares [`Message`] with one variant per message kind and its wire codes.
macro_rules! messages {
    ($($(#[$meta:meta])* $variant:ident($body:ty) = ($code:literal, $name:literal)),+ $(,)?) => {
        /// Every message of the protocol, by kind.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Message {
            $($(#[$meta])* $variant($body)),+
        }

        impl Message {
            /// The kind's wire code.
            pub fn code(&self) -> u8 {
                match self { $(Message::$variant(_) => $code),+ }
            }

            /// The kind's name, as in logs and `docs/protocol.md`.
            pub fn kind(&self) -> &'static str {
                match self { $(Message::$variant(_) => $name),+ }
            }

            fn encode_body(&self, w: &mut Writer) {
                match self { $(Message::$variant(body) => body.encode(w)),+ }
            }

            fn decode_body(code: u8, r: &mut Reader<'_>) -> Result<Message, CodecError> {
                match code {
                    $($code => Ok(Message::$variant(<$body>::decode(r)?)),)+
                    other => Err(CodecError::UnknownMessageType(other)),
                }
            }
        }
    };
}

messages! {
    /// Round 0, cloud → everyone: the signed task.
    Task(Signed<Task>) = (1, "task"),
    /// Round 1, CP → cloud: Algorithm 1 request.
    AdmissionRequest(Signed<AdmissionRequest>) = (2, "admission-request"),
    /// Round 1, cloud → CP: the CP's index, encrypted to it.
    AdmissionGrant(Signed<AdmissionGrant>) = (3, "admission-grant"),
    /// Round 1, cloud → everyone: the signed committee.
    Committee(Signed<Committee>) = (4, "committee"),
    /// Round 2, DP → cloud: the signed bundle of encrypted shares.
    Bundle(Bundle) = (5, "bundle"),
    /// Round 2, cloud → CP: one DP's share for that CP.
    ShareDelivery(ShareDelivery) = (6, "share-delivery"),
    /// Round 2, cloud → edge: a DP's signed commitments (the bundle without ciphertexts).
    BundleSummary(Signed<BundleCore>) = (7, "bundle-summary"),
    /// Round 3, CP → cloud: which shares verified, and complaints.
    VerificationReport(Signed<VerificationReport>) = (8, "verification-report"),
    /// Round 3, cloud → CPs and edge: the signed input set.
    InputSet(Signed<InputSet>) = (9, "input-set"),
    /// Round 4, CP → edge: the CP's encrypted, signed result share.
    ResultShare(Signed<ResultShare>) = (10, "result-share"),
    /// Round 4, edge → everyone: the signed result.
    TaskResult(Signed<TaskResult>) = (11, "task-result"),
}

/// A message with its routing header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The task the message belongs to.
    pub task: TaskId,
    /// The party that sent this envelope (for relayed content, not its signer).
    pub sender: PartyId,
    /// The message.
    pub message: Message,
}

impl Encode for Envelope {
    fn encode(&self, w: &mut Writer) {
        w.u8(VERSION);
        w.u8(self.message.code());
        self.task.encode(w);
        self.sender.encode(w);
        self.message.encode_body(w);
    }
}

impl Decode for Envelope {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(CodecError::UnknownVersion(version));
        }
        let code = r.u8("message type")?;
        let task = TaskId::decode(r)?;
        let sender = PartyId::decode(r)?;
        let message = Message::decode_body(code, r)?;
        Ok(Envelope {
            task,
            sender,
            message,
        })
    }
}

impl Envelope {
    /// Decodes exactly one envelope from `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, CodecError> {
        decode_exact(bytes)
    }
}
