//! The TOML of the three deployment files: what they may contain, how they are read, and the
//! commented text written for them.
//!
//! Every table refuses unknown keys, so a misspelt key is an error rather than a silently ignored
//! setting. Errors give the line and column but never quote the file's text, because a key file's
//! text is secret.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use dsmpc_core::identity::{IdentityCard, SECRET_KEY_LEN, SecretIdentity};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use zeroize::{Zeroize, Zeroizing};

use super::{Defaults, DeploymentError};

/// The header of `roster.toml`.
const ROSTER_HEADER: &str = "\
# dsmpc roster: public identities of the servers (cloud, edge, computing parties). Every party
# pins these keys. Data providers are not listed here: their keys are registered with the cloud
# (`dsmpc init --dps N` registers the DPs it makes; `dsmpc dp register` adds others).
#
# One [[party]] block per server:
#   id             1-64 characters from a-z, 0-9, '.', '_' and '-'
#   role           cloud, edge or cp (computing party)
#   address        HOST:PORT where the party accepts connections
#   verifying_key  Ed25519 key that checks the party's signatures (64 hex digits)
#   kem_key        ristretto255 KEM public key that shares and results are sealed to (64 hex)
#   noise_key      X25519 static key of the party's Noise channels (64 hex)
# A server that made its own keys with `dsmpc keygen` prints its block for this file.
";

/// `roster.toml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RosterFile {
    /// The `[[party]]` blocks, in file order.
    #[serde(default)]
    pub party: Vec<PartyEntry>,
}

/// One `[[party]]` block; every value keeps its position for error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PartyEntry {
    pub id: Spanned<String>,
    pub role: Spanned<String>,
    pub address: Option<Spanned<String>>,
    pub verifying_key: Spanned<String>,
    pub kem_key: Spanned<String>,
    pub noise_key: Spanned<String>,
}

/// `deployment.toml` as written; see [`Defaults`] for the meaning of each key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DefaultsFile {
    pub threshold: Spanned<u32>,
    pub mode: Option<Spanned<String>>,
    pub timeout_secs: Option<Spanned<u64>>,
    pub admission_secs: Option<Spanned<u64>>,
    pub submission_secs: Option<Spanned<u64>>,
}

/// A key file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyFile {
    pub id: String,
    pub role: String,
    pub secret: SecretHex,
}

/// The hex text of a secret key: wiped on drop, never printed.
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct SecretHex(String);

impl Drop for SecretHex {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl SecretHex {
    /// The [`SECRET_KEY_LEN`] bytes, or `None` if the text is not exactly that many bytes of hex.
    /// (Which character was wrong is not said: it would be a piece of the secret.)
    pub fn decode(&self) -> Option<Zeroizing<[u8; SECRET_KEY_LEN]>> {
        let mut bytes = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        hex::decode_to_slice(self.0.trim(), bytes.as_mut()).ok()?;
        Some(bytes)
    }
}

/// Parses `text`, the contents of `path`, as `T`.
pub(super) fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, DeploymentError> {
    toml::from_str(text).map_err(|err| {
        let at = err
            .span()
            .map(|span| format!("{}: ", location(text, span)))
            .unwrap_or_default();
        DeploymentError::Parse {
            path: path.to_owned(),
            message: format!("{at}{}", err.message().trim_end()),
        }
    })
}

/// `line L, column C` of the start of `span` in `text`.
pub(super) fn location(text: &str, span: Range<usize>) -> String {
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// `value` as a TOML string literal, escaped as needed.
fn quote(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

/// A `[[party]]` block for `card`, with `address` when the party accepts connections.
pub fn card_toml(card: &IdentityCard, address: Option<&str>) -> String {
    let mut out = String::from("[[party]]\n");
    let mut line = |key: &str, value: &str| {
        let _ = writeln!(out, "{key} = {}", quote(value));
    };
    line("id", card.id.as_str());
    line("role", card.role.name());
    if let Some(address) = address {
        line("address", address);
    }
    line("verifying_key", &hex::encode(card.verifying_key.as_bytes()));
    line("kem_key", &hex::encode(card.kem_key.to_bytes()));
    line("noise_key", &hex::encode(card.noise_key));
    out
}

/// The text of `roster.toml` for these cards and addresses, in the order given.
pub(super) fn roster_text<'a>(
    parties: impl IntoIterator<Item = (&'a IdentityCard, Option<&'a str>)>,
) -> String {
    let mut out = String::from(ROSTER_HEADER);
    for (card, address) in parties {
        out.push('\n');
        out.push_str(&card_toml(card, address));
    }
    out
}

/// The text of `deployment.toml` for `defaults`.
pub(super) fn defaults_text(defaults: &Defaults) -> String {
    format!(
        "\
# dsmpc deployment defaults: what tasks in this deployment use unless a command says otherwise.

# Result shares the edge needs to reconstruct a result: any `threshold` computing parties suffice,
# fewer learn nothing. 1 <= threshold <= the number of computing parties in roster.toml.
threshold = {threshold}

# verifiable: Pedersen-committed shares, every share and result checked (ristretto255).
# fast: no commitments, seed-compressed shares, the smallest field that holds the result.
mode = {mode}

# Seconds a party waits for a peer (to connect, or for the next message of a round) before it
# gives up on that peer.
timeout_secs = {timeout}

# Seconds from a task's creation until its committee of computing parties must be admitted.
admission_secs = {admission}

# Seconds from a task's creation until its input set closes (more than admission_secs).
submission_secs = {submission}
",
        threshold = defaults.threshold,
        mode = quote(defaults.mode.name()),
        timeout = defaults.timeout_secs,
        admission = defaults.admission_secs,
        submission = defaults.submission_secs,
    )
}

/// The text of a key file for `identity`, in memory that is wiped on drop.
pub(super) fn key_text(identity: &SecretIdentity) -> Zeroizing<String> {
    let card = identity.card();
    let mut secret_hex = Zeroizing::new([0u8; 2 * SECRET_KEY_LEN]);
    // Cannot fail: the output is exactly twice the input.
    let _ = hex::encode_to_slice(identity.secret_bytes().as_ref(), secret_hex.as_mut());
    let mut out = Zeroizing::new(String::with_capacity(1024));
    out.push_str(&format!(
        "# dsmpc SECRET key of party {id}: never share, send or commit this file; keep it mode 0600.\n\
         # Its public half is the [[party]] block of {id} in roster.toml.\n\
         id = {qid}\n\
         role = {role}\n\
         secret = \"",
        id = card.id,
        qid = quote(card.id.as_str()),
        role = quote(card.role.name()),
    ));
    // Hex digits are ASCII, so this is valid UTF-8.
    out.push_str(std::str::from_utf8(secret_hex.as_ref()).unwrap_or_default());
    out.push_str("\"\n");
    out
}
