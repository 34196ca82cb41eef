//! Deployment directories: the roster every party pins, each party's secret key file, and the
//! defaults tasks use.
//!
//! A deployment directory `DIR` holds
//!
//! * `DIR/roster.toml` — every server's public [`IdentityCard`] (cloud, edge, computing parties)
//!   and its `HOST:PORT` address, as `[[party]]` blocks; data providers are not listed: their
//!   cards are registered with the cloud, in its store (see `store::registry`);
//! * `DIR/keys/<id>.key` — one party's secret keys (mode 0600, in a 0700 directory): `id`, `role`
//!   and `secret`, the 96 bytes of [`SecretIdentity::secret_bytes`] as 192 hex digits;
//! * `DIR/deployment.toml` — task [`Defaults`]: `threshold`, `mode`, `timeout_secs`,
//!   `admission_secs` and `submission_secs`.
//!
//! [`init`] writes a whole deployment (for one machine, or to hand out: each party gets the roster,
//! the defaults and only its own key file) and registers the DPs it makes in the cloud's default
//! store, `DIR/cloud.db`. Across machines, each party runs [`keygen`] itself and
//! sends the [`card_toml`] block to whoever assembles the roster; the secret never leaves its
//! machine. [`load`] and [`load_identity`] read the files back, strictly: unknown keys, malformed
//! keys, duplicate ids or addresses, a key file others can read, or a key that does not match its
//! card are all refused with the file and what is wrong. Secrets never appear in errors or `Debug`.

mod files;
mod format;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dsmpc_core::crypto::kem::KemPublicKey;
use dsmpc_core::identity::{IdentityCard, PartyId, Role, Roster, SecretIdentity};
use dsmpc_core::rng::os_rng;
use dsmpc_core::sharing::MAX_PARTIES;
use dsmpc_core::task::Mode;
use ed25519_dalek::VerifyingKey;
use toml::Spanned;

use files::{Access, Existing, invalid};
pub use format::card_toml;
use format::{DefaultsFile, KeyFile, PartyEntry, RosterFile, location};

/// The roster's file name inside a deployment directory.
pub const ROSTER_FILE: &str = "roster.toml";
/// The defaults' file name inside a deployment directory.
pub const DEFAULTS_FILE: &str = "deployment.toml";
/// The directory of key files inside a deployment directory.
pub const KEYS_DIR: &str = "keys";
/// The cloud's default store inside a deployment directory, where [`init`] registers its DPs.
pub const CLOUD_DB: &str = "cloud.db";
/// The most data providers [`init`] makes keys for.
pub const MAX_INIT_DPS: u32 = 100_000;

/// Default of [`Defaults::timeout_secs`].
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default of [`Defaults::admission_secs`].
pub const DEFAULT_ADMISSION_SECS: u64 = 60;
/// Default of [`Defaults::submission_secs`].
pub const DEFAULT_SUBMISSION_SECS: u64 = 300;
/// The longest timeout or deadline the defaults accept: one week.
pub const MAX_SECS: u64 = 7 * 24 * 3600;

const HINT_ROSTER: &str = "run `dsmpc init DIR` to create a deployment, or copy roster.toml here";
const HINT_DEFAULTS: &str = "run `dsmpc init DIR`, or copy deployment.toml here";
const HINT_KEY: &str =
    "copy this party's key file here (mode 0600), or make one with `dsmpc keygen`";
const HINT_FORCE: &str = "pass --force to replace the existing deployment and its keys";
const HINT_KEYGEN: &str = "a key is never overwritten; remove the old file first if it is unused";

/// Everything that can go wrong reading or writing a deployment. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeploymentError {
    /// A file or directory could not be read, created or written.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file that must exist does not.
    #[error("{} does not exist; {hint}", path.display())]
    Missing {
        /// The missing file.
        path: PathBuf,
        /// What to do about it.
        hint: &'static str,
    },
    /// A file is not valid TOML, or has unknown, missing or mistyped keys.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what (toml's message, with line and column).
        message: String,
    },
    /// A file parsed, but holds something unusable.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A secret key file may be read by its group or by others.
    #[error(
        "{}: secret key file is accessible to group or others (mode {mode:03o}); \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFileExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file holds keys other than those the roster lists for its party.
    #[error(
        "{}: the keys of {id} do not match its card in {roster} (different public keys); \
         use the key file made together with this roster, or replace the party's block in the \
         roster with the one `dsmpc keygen` printed for this key",
        path.display(),
        roster = ROSTER_FILE
    )]
    KeyMismatch {
        /// The key file.
        path: PathBuf,
        /// The party.
        id: PartyId,
    },
    /// A file to be written exists already.
    #[error("{} already exists; {hint}", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
        /// What to do about it.
        hint: &'static str,
    },
    /// Options given to [`init`] or [`keygen`] are unusable.
    #[error("{reason}")]
    Options {
        /// What is wrong and what to change.
        reason: String,
    },
    /// A party is not in the roster.
    #[error("party {id} is not in {}", path.display())]
    UnknownParty {
        /// The party.
        id: PartyId,
        /// The roster file.
        path: PathBuf,
    },
    /// A party has no address: data providers only connect out.
    #[error("party {id} is a {role} and has no address in {} (only cloud, edge and computing parties accept connections)", path.display())]
    NoAddress {
        /// The party.
        id: PartyId,
        /// Its role.
        role: Role,
        /// The roster file.
        path: PathBuf,
    },
}

/// What [`init`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    /// Computing parties `cp1..cpN` (1 to 1024).
    pub cps: u32,
    /// Data providers `dp1..dpM` (1 to [`MAX_INIT_DPS`]).
    pub dps: u32,
    /// Default threshold, `1 ≤ threshold ≤ cps`.
    pub threshold: u32,
    /// Host name or address of every server (IPv6 in brackets, like `[::1]`).
    pub host: String,
    /// The cloud's port; the edge listens on `base_port + 1`, `cp_i` on `base_port + 1 + i`.
    pub base_port: u16,
    /// Replace an existing deployment (roster, defaults and key files) in the directory.
    pub force: bool,
    /// The PostgreSQL database the cloud will keep its state in (`dsmpc cloud --database`):
    /// the DPs are registered there instead of in `cloud.db`.
    pub database: Option<String>,
    /// How many front-ends serve the cloud (1 to [`MAX_FRONTENDS`]; more than one needs
    /// `database`): the roster lists that many addresses for the cloud, the first on
    /// `base_port`, the others after the computing parties' ports.
    pub cloud_frontends: u32,
}

/// The most front-ends a cloud may list.
pub const MAX_FRONTENDS: u32 = 64;

/// Task defaults of a deployment, from `deployment.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// Result shares the edge needs to reconstruct: `1 ≤ threshold ≤` the number of computing
    /// parties in the roster.
    pub threshold: u32,
    /// Verifiable (committed shares) or fast. Default: verifiable.
    pub mode: Mode,
    /// Seconds a party waits for a peer before giving up on it (1 to [`MAX_SECS`]).
    pub timeout_secs: u64,
    /// Seconds from a task's creation until its committee must be admitted.
    pub admission_secs: u64,
    /// Seconds from a task's creation until its input set closes; more than `admission_secs`.
    pub submission_secs: u64,
}

impl Defaults {
    /// The defaults with `threshold` and every other setting at its default.
    pub fn with_threshold(threshold: u32) -> Defaults {
        Defaults {
            threshold,
            mode: Mode::Verifiable,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            admission_secs: DEFAULT_ADMISSION_SECS,
            submission_secs: DEFAULT_SUBMISSION_SECS,
        }
    }
}

/// A loaded deployment directory: the roster, where the servers listen, and the task defaults.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The deployment directory.
    pub dir: PathBuf,
    /// Every party's public identity.
    pub roster: Roster,
    /// `HOST:PORT` of every party that accepts connections (cloud, edge, computing parties).
    pub addresses: BTreeMap<PartyId, String>,
    /// Task defaults.
    pub defaults: Defaults,
}

impl Deployment {
    /// Where `id` accepts connections.
    pub fn address(&self, id: &PartyId) -> Result<&str, DeploymentError> {
        let card = self
            .roster
            .get(id)
            .ok_or_else(|| DeploymentError::UnknownParty {
                id: id.clone(),
                path: self.roster_path(),
            })?;
        self.addresses
            .get(id)
            .map(String::as_str)
            .ok_or_else(|| DeploymentError::NoAddress {
                id: id.clone(),
                role: card.role,
                path: self.roster_path(),
            })
    }

    /// Where front-end `frontend` (from 1) of `id` accepts connections: the `frontend`-th of
    /// its addresses.
    pub fn frontend_address(&self, id: &PartyId, frontend: u32) -> Result<&str, DeploymentError> {
        let list = split_addresses(self.address(id)?);
        let index = usize::try_from(frontend.saturating_sub(1)).unwrap_or(usize::MAX);
        match (frontend, list.get(index)) {
            (1.., Some(address)) => Ok(address),
            _ => Err(invalid(
                &self.roster_path(),
                format!(
                    "{id} has {} address(es) in the roster: there is no front-end {frontend}",
                    list.len()
                ),
            )),
        }
    }

    /// The path of `roster.toml`.
    pub fn roster_path(&self) -> PathBuf {
        self.dir.join(ROSTER_FILE)
    }

    /// The path of `id`'s key file.
    pub fn key_path(&self, id: &PartyId) -> PathBuf {
        key_path(&self.dir.join(KEYS_DIR), id)
    }

    /// Reads `id`'s key file and checks it against the roster: see [`load_identity`].
    pub fn load_identity(&self, id: &PartyId) -> Result<SecretIdentity, DeploymentError> {
        let path = self.key_path(id);
        let Some(card) = self.roster.get(id) else {
            // A data provider is not in the roster: its key file is all it needs (the cloud
            // refuses a DP whose keys it has not registered).
            let unknown = DeploymentError::UnknownParty {
                id: id.clone(),
                path: self.roster_path(),
            };
            if !path.exists() {
                return Err(unknown);
            }
            let identity = read_key_file(&path, id)?;
            if identity.card().role != Role::Dp {
                return Err(unknown);
            }
            return Ok(identity);
        };
        let identity = read_key_file(&path, id)?;
        if identity.card().role != card.role {
            return Err(invalid(
                &path,
                format!(
                    "the key of {id} is for role {}, but the roster makes {id} a {}",
                    identity.card().role,
                    card.role
                ),
            ));
        }
        if identity.card() != card {
            return Err(DeploymentError::KeyMismatch {
                path,
                id: id.clone(),
            });
        }
        Ok(identity)
    }
}

/// The key file of `id` in `keys_dir`.
fn key_path(keys_dir: &Path, id: &PartyId) -> PathBuf {
    keys_dir.join(format!("{id}.key"))
}

/// Creates a deployment in `dir`: keys for `cloud`, `edge`, `cp1..cpN` and `dp1..dpM`, the roster
/// with the servers' addresses (cloud on `base_port`, edge on `base_port + 1`, `cp_i` on
/// `base_port + 1 + i`; data providers have none), and the defaults. Refuses a directory that
/// already holds a deployment unless `force`. Returns the deployment as [`load`] reads it back.
pub fn init(dir: &Path, opts: &InitOptions) -> Result<Deployment, DeploymentError> {
    check_options(opts)?;
    let keys_dir = dir.join(KEYS_DIR);
    let plan = init_parties(opts)?;
    let existing = if opts.force {
        Existing::Replace
    } else {
        refuse_existing(dir, &keys_dir, &plan)?;
        Existing::Refuse(HINT_FORCE)
    };
    files::create_dir(dir, Access::Public)?;
    files::create_dir(&keys_dir, Access::Secret)?;
    if opts.force {
        remove_store(&dir.join(CLOUD_DB))?;
    }
    let mut rng = os_rng();
    let identities: Vec<SecretIdentity> = plan
        .iter()
        .map(|(id, role, _)| SecretIdentity::generate(id.clone(), *role, &mut rng))
        .collect();
    for identity in &identities {
        let text = format::key_text(identity);
        let path = key_path(&keys_dir, identity.id());
        files::write_atomic(&path, text.as_bytes(), Access::Secret, existing)?;
    }
    let defaults = format::defaults_text(&Defaults::with_threshold(opts.threshold));
    let defaults_path = dir.join(DEFAULTS_FILE);
    files::write_atomic(
        &defaults_path,
        defaults.as_bytes(),
        Access::Public,
        existing,
    )?;
    register_in_store(dir, opts.database.as_deref(), &identities)?;
    // The roster goes last: a directory with a roster holds a complete deployment.
    let roster = format::roster_text(
        identities
            .iter()
            .zip(&plan)
            .filter(|(identity, _)| identity.card().role != Role::Dp)
            .map(|(identity, (_, _, address))| (identity.card(), address.as_deref())),
    );
    let roster_existing = if files::is_non_empty_file(&dir.join(ROSTER_FILE)) {
        existing
    } else {
        Existing::Replace
    };
    files::write_atomic(
        &dir.join(ROSTER_FILE),
        roster.as_bytes(),
        Access::Public,
        roster_existing,
    )?;
    load(dir)
}

/// Registers the DPs among `identities` in the cloud's store: the PostgreSQL `database` if
/// given, else the default SQLite file `dir/cloud.db`.
fn register_in_store(
    dir: &Path,
    database: Option<&str>,
    identities: &[SecretIdentity],
) -> Result<(), DeploymentError> {
    let path = dir.join(CLOUD_DB);
    let location = match database {
        Some(url) => crate::store::StoreLocation::Postgres(url.to_owned()),
        None => crate::store::StoreLocation::Sqlite(path.clone()),
    };
    let cards: Vec<IdentityCard> = identities
        .iter()
        .map(|i| i.card().clone())
        .filter(|c| c.role == Role::Dp)
        .collect();
    location
        .open()
        .and_then(|mut store| store.register_dps(&cards))
        .map_err(|e| {
            invalid(
                &path,
                format!("cannot register the data providers in {location}: {e}"),
            )
        })?;
    Ok(())
}

/// Removes the store at `path` with its WAL files and segment directory (`init --force`: the
/// old cloud's tasks and DP registrations belong to keys that are being replaced).
fn remove_store(path: &Path) -> Result<(), DeploymentError> {
    let mut files = vec![path.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    for file in files {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(DeploymentError::Io {
                    path: file,
                    action: "remove",
                    source,
                });
            }
        }
    }
    let segments = crate::store::segments_dir(path);
    match std::fs::remove_dir_all(&segments) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DeploymentError::Io {
            path: segments,
            action: "remove",
            source,
        }),
    }
}

/// Reads the `[[party]]` blocks of data providers in `path` (what `dsmpc keygen --role dp`
/// printed), for registering them with the cloud. Refuses any other role and an address.
pub fn read_dp_cards(path: &Path) -> Result<Vec<IdentityCard>, DeploymentError> {
    let text = files::read_text(
        path,
        "write the blocks `dsmpc keygen --role dp` printed to it",
    )?;
    let file: RosterFile = format::parse(path, &text)?;
    let mut cards = Vec::with_capacity(file.party.len());
    let mut seen = BTreeSet::new();
    for entry in &file.party {
        let (card, _) = party_from_entry(path, &text, entry)?;
        let at = location(&text, entry.id.span());
        if card.role != Role::Dp {
            return Err(invalid(
                path,
                format!("{at}: {} is a {}, not a data provider", card.id, card.role),
            ));
        }
        if !seen.insert(card.id.clone()) {
            return Err(invalid(path, format!("{at}: {} appears twice", card.id)));
        }
        cards.push(card);
    }
    if cards.is_empty() {
        return Err(invalid(path, "holds no [[party]] block"));
    }
    Ok(cards)
}

/// Checks the numbers of [`InitOptions`].
fn check_options(opts: &InitOptions) -> Result<(), DeploymentError> {
    let fail = |reason: String| Err(DeploymentError::Options { reason });
    if opts.cps == 0 || opts.cps > MAX_PARTIES {
        return fail(format!(
            "cps (--cps) must be between 1 and {MAX_PARTIES} computing parties, not {}",
            opts.cps
        ));
    }
    if opts.dps == 0 || opts.dps > MAX_INIT_DPS {
        return fail(format!(
            "dps (--dps) must be between 1 and {MAX_INIT_DPS} data providers, not {}",
            opts.dps
        ));
    }
    if opts.threshold == 0 || opts.threshold > opts.cps {
        return fail(format!(
            "threshold {} must be between 1 and the number of computing parties ({}): \
             lower --threshold or raise --cps",
            opts.threshold, opts.cps
        ));
    }
    if opts.base_port == 0 {
        return fail("base port 0 is not a usable port; pick one like --base-port 7400".into());
    }
    if opts.cloud_frontends == 0 || opts.cloud_frontends > MAX_FRONTENDS {
        return fail(format!(
            "cloud front-ends (--cloud-frontends) must be between 1 and {MAX_FRONTENDS}, not {}",
            opts.cloud_frontends
        ));
    }
    if opts.cloud_frontends > 1 && opts.database.is_none() {
        return fail(
            "several cloud front-ends share one PostgreSQL database: give --database URL \
             (a SQLite file serves one front-end)"
                .into(),
        );
    }
    let ports = 1 + opts.cps + (opts.cloud_frontends - 1);
    let last = u32::from(opts.base_port) + ports;
    if last > u32::from(u16::MAX) {
        let highest = u32::from(u16::MAX) - ports;
        return fail(format!(
            "base port {} leaves no room for the cloud, the edge and {} computing parties \
             (the last would need port {last}, above 65535); use --base-port {highest} or lower",
            opts.base_port, opts.cps
        ));
    }
    Ok(())
}

/// The id, role and address of every party [`init`] makes, in roster order.
fn init_parties(
    opts: &InitOptions,
) -> Result<Vec<(PartyId, Role, Option<String>)>, DeploymentError> {
    let address = |offset: u32| -> Result<Option<String>, DeploymentError> {
        let port = u32::from(opts.base_port) + offset;
        let address = format!("{}:{port}", opts.host);
        check_address(&address).map_err(|reason| DeploymentError::Options {
            reason: format!("host {:?}: {reason}", opts.host),
        })?;
        Ok(Some(address))
    };
    let mut cloud = address(0)?.unwrap_or_default();
    for i in 2..=opts.cloud_frontends {
        let extra = address(opts.cps + i)?.unwrap_or_default();
        cloud = format!("{cloud},{extra}");
    }
    let mut parties = vec![
        (party_id("cloud")?, Role::Cloud, Some(cloud)),
        (party_id("edge")?, Role::Edge, address(1)?),
    ];
    for i in 1..=opts.cps {
        parties.push((party_id(&format!("cp{i}"))?, Role::Cp, address(1 + i)?));
    }
    for j in 1..=opts.dps {
        parties.push((party_id(&format!("dp{j}"))?, Role::Dp, None));
    }
    Ok(parties)
}

/// A party id made by [`init`] (always valid).
fn party_id(name: &str) -> Result<PartyId, DeploymentError> {
    PartyId::new(name).map_err(|err| DeploymentError::Options {
        reason: err.to_string(),
    })
}

/// Refuses to initialise over an existing roster, defaults or key file.
fn refuse_existing(
    dir: &Path,
    keys_dir: &Path,
    plan: &[(PartyId, Role, Option<String>)],
) -> Result<(), DeploymentError> {
    let key_paths = plan.iter().map(|(id, _, _)| key_path(keys_dir, id));
    let roster = dir.join(ROSTER_FILE);
    let mut others = std::iter::once(dir.join(DEFAULTS_FILE)).chain(key_paths);
    let found = if files::is_non_empty_file(&roster) {
        Some(roster)
    } else {
        others.find(|path| path.exists())
    };
    match found {
        Some(path) => Err(DeploymentError::Exists {
            path,
            hint: HINT_FORCE,
        }),
        None => Ok(()),
    }
}

/// Reads the deployment in `dir`: `roster.toml` (every key decodes, ids and roles valid, no id or
/// address twice, exactly one cloud and one edge, an address for every server and none for data
/// providers) and `deployment.toml` (threshold within the number of computing parties).
pub fn load(dir: &Path) -> Result<Deployment, DeploymentError> {
    let roster_path = dir.join(ROSTER_FILE);
    let text = files::read_text(&roster_path, HINT_ROSTER)?;
    let file: RosterFile = format::parse(&roster_path, &text)?;
    let (roster, addresses) = roster_from_file(&roster_path, &text, file)?;
    let defaults_path = dir.join(DEFAULTS_FILE);
    let text = files::read_text(&defaults_path, HINT_DEFAULTS)?;
    let file: DefaultsFile = format::parse(&defaults_path, &text)?;
    let cps = roster.of_role(Role::Cp).count();
    let defaults = defaults_from_file(&defaults_path, &text, file, cps)?;
    Ok(Deployment {
        dir: dir.to_owned(),
        roster,
        addresses,
        defaults,
    })
}

/// Builds the roster and address book from the parsed `roster.toml`.
fn roster_from_file(
    path: &Path,
    text: &str,
    file: RosterFile,
) -> Result<(Roster, BTreeMap<PartyId, String>), DeploymentError> {
    let mut cards = Vec::with_capacity(file.party.len());
    let mut addresses = BTreeMap::new();
    let mut holders: BTreeMap<String, PartyId> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for entry in &file.party {
        let (card, address) = party_from_entry(path, text, entry)?;
        if !seen.insert(card.id.clone()) {
            let at = location(text, entry.id.span());
            return Err(invalid(
                path,
                format!("{at}: party {} appears twice", card.id),
            ));
        }
        if let Some(address) = address {
            for one in split_addresses(&address) {
                if let Some(other) = holders.insert(one.to_owned(), card.id.clone()) {
                    return Err(invalid(
                        path,
                        format!("address {one} is given to both {other} and {}", card.id),
                    ));
                }
            }
            addresses.insert(card.id.clone(), address);
        }
        cards.push(card);
    }
    let roster = Roster::new(cards).map_err(|err| invalid(path, err.to_string()))?;
    Ok((roster, addresses))
}

/// One party's card and address from its `[[party]]` block.
fn party_from_entry(
    path: &Path,
    text: &str,
    entry: &PartyEntry,
) -> Result<(IdentityCard, Option<String>), DeploymentError> {
    let fail = |span, what: String| invalid(path, format!("{}: {what}", location(text, span)));
    let id =
        PartyId::new(entry.id.get_ref()).map_err(|err| fail(entry.id.span(), err.to_string()))?;
    let role: Role = entry
        .role
        .get_ref()
        .parse()
        .map_err(|err: dsmpc_core::Error| fail(entry.role.span(), format!("party {id}: {err}")))?;
    let address = check_entry_address(&id, role, entry.address.as_ref())
        .map_err(|(span, what)| fail(span.unwrap_or(entry.id.span()), what))?;
    let key = |field: &Spanned<String>, name: &str| {
        decode_key(field.get_ref())
            .ok_or_else(|| fail(field.span(), format!("{name} of {id} is not 64 hex digits")))
    };
    let verifying_key = VerifyingKey::from_bytes(&key(&entry.verifying_key, "verifying_key")?)
        .map_err(|_| {
            let what = format!("verifying_key of {id} is not a valid Ed25519 public key");
            fail(entry.verifying_key.span(), what)
        })?;
    let kem_key = KemPublicKey::from_bytes(&key(&entry.kem_key, "kem_key")?).map_err(|_| {
        let what = format!("kem_key of {id} is not a valid ristretto255 public key");
        fail(entry.kem_key.span(), what)
    })?;
    let noise_key = key(&entry.noise_key, "noise_key")?;
    if noise_key == [0u8; 32] {
        let what = format!("noise_key of {id} is all zeros, not an X25519 public key");
        return Err(fail(entry.noise_key.span(), what));
    }
    let card = IdentityCard {
        id,
        role,
        verifying_key,
        kem_key,
        noise_key,
    };
    Ok((card, address))
}

/// Servers need an address, data providers must have none; a present address must be usable.
fn check_entry_address(
    id: &PartyId,
    role: Role,
    address: Option<&Spanned<String>>,
) -> Result<Option<String>, (Option<std::ops::Range<usize>>, String)> {
    match (role, address) {
        (Role::Dp, None) => Ok(None),
        (Role::Dp, Some(a)) => Err((
            Some(a.span()),
            format!("{id} is a data provider, which only connects out: remove its address"),
        )),
        (_, None) => Err((
            None,
            format!("{id} is a {role} and needs an address = \"HOST:PORT\" to accept connections"),
        )),
        (_, Some(a)) => {
            let list = split_addresses(a.get_ref());
            if list.len() > 1 && role != Role::Cloud {
                return Err((
                    Some(a.span()),
                    format!(
                        "{id} is a {role}: only the cloud may list several addresses (one per \
                         front-end)"
                    ),
                ));
            }
            let mut seen = BTreeSet::new();
            for address in &list {
                check_address(address)
                    .map_err(|what| (Some(a.span()), format!("address of {id}: {what}")))?;
                if !seen.insert(*address) {
                    let what = format!("address {address} appears twice in {id}'s list");
                    return Err((Some(a.span()), what));
                }
            }
            Ok(Some(list.join(",")))
        }
    }
}

/// The addresses of a roster entry: one, or (the cloud's front-ends) several separated by
/// commas.
pub fn split_addresses(list: &str) -> Vec<&str> {
    list.split(',').map(str::trim).collect()
}

/// 32 bytes from exactly 64 hex digits.
fn decode_key(hex_text: &str) -> Option<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut key).ok()?;
    Some(key)
}

/// Checks that `address` is `HOST:PORT`: a host name, IPv4 address or bracketed IPv6 address, and
/// a port from 1 to 65535. The error says what is wrong.
pub fn check_address(address: &str) -> Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("{address:?} is not HOST:PORT"));
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => {
            return Err(format!(
                "{address:?} has no port from 1 to 65535 after the last ':'"
            ));
        }
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_';
    let ipv6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        });
    if host.is_empty() || host.len() > 253 {
        return Err(format!("{address:?} has no host before the port"));
    }
    if !ipv6 && !host.chars().all(name_char) {
        return Err(format!(
            "host {host:?} is neither a host name nor an IP address (write IPv6 in brackets, like [::1])"
        ));
    }
    Ok(())
}

/// Validates the parsed `deployment.toml` against a roster with `cps` computing parties.
fn defaults_from_file(
    path: &Path,
    text: &str,
    file: DefaultsFile,
    cps: usize,
) -> Result<Defaults, DeploymentError> {
    let fail = |span, what: String| invalid(path, format!("{}: {what}", location(text, span)));
    let mut defaults = Defaults::with_threshold(*file.threshold.get_ref());
    if defaults.threshold == 0 || defaults.threshold as usize > cps {
        let what = format!(
            "threshold {} must be between 1 and the number of computing parties in {ROSTER_FILE} ({cps})",
            defaults.threshold
        );
        return Err(fail(file.threshold.span(), what));
    }
    if let Some(mode) = &file.mode {
        defaults.mode = mode
            .get_ref()
            .parse()
            .map_err(|err: dsmpc_core::Error| fail(mode.span(), err.to_string()))?;
    }
    let secs = |value: &Option<Spanned<u64>>, name: &str, default: u64| match value {
        None => Ok(default),
        Some(v) if (1..=MAX_SECS).contains(v.get_ref()) => Ok(*v.get_ref()),
        Some(v) => Err(fail(
            v.span(),
            format!(
                "{name} must be between 1 and {MAX_SECS} seconds, not {}",
                v.get_ref()
            ),
        )),
    };
    defaults.timeout_secs = secs(&file.timeout_secs, "timeout_secs", DEFAULT_TIMEOUT_SECS)?;
    defaults.admission_secs = secs(
        &file.admission_secs,
        "admission_secs",
        DEFAULT_ADMISSION_SECS,
    )?;
    defaults.submission_secs = secs(
        &file.submission_secs,
        "submission_secs",
        DEFAULT_SUBMISSION_SECS,
    )?;
    if defaults.submission_secs <= defaults.admission_secs {
        return Err(invalid(
            path,
            format!(
                "submission_secs ({}) must be more than admission_secs ({}): inputs are \
                 accepted only after the committee is admitted",
                defaults.submission_secs, defaults.admission_secs
            ),
        ));
    }
    Ok(defaults)
}

/// Reads `dir/keys/<id>.key` and checks it against the card `dir/roster.toml` lists for `id`.
/// Refuses a key file its group or others can access (`chmod 600` it), a file holding another
/// party's key, and a key whose public keys differ from the roster's card.
pub fn load_identity(dir: &Path, id: &PartyId) -> Result<SecretIdentity, DeploymentError> {
    load(dir)?.load_identity(id)
}

/// Reads and decodes the key file at `path`, which must hold the key of `id`.
fn read_key_file(path: &Path, id: &PartyId) -> Result<SecretIdentity, DeploymentError> {
    let text = files::read_secret(path, HINT_KEY)?;
    let file: KeyFile = format::parse(path, &text)?;
    if file.id != id.as_str() {
        let found: String = file.id.chars().take(64).collect();
        return Err(invalid(
            path,
            format!("holds the key of {found:?}, not of {id}"),
        ));
    }
    let role: Role = file
        .role
        .parse()
        .map_err(|err: dsmpc_core::Error| invalid(path, err.to_string()))?;
    let bytes = file
        .secret
        .decode()
        .ok_or_else(|| invalid(path, "secret is not 192 hex digits"))?;
    SecretIdentity::from_secret_bytes(id.clone(), role, &bytes)
        .map_err(|err| invalid(path, err.to_string()))
}

/// Makes fresh keys for `id` acting as `role` and writes them to `out_dir/<id>.key` (mode 0600;
/// `out_dir` is created, mode 0700, if missing). Never overwrites an existing key file. Returns the
/// identity, whose card [`card_toml`] turns into the party's roster block.
pub fn keygen(id: &PartyId, role: Role, out_dir: &Path) -> Result<SecretIdentity, DeploymentError> {
    let path = key_path(out_dir, id);
    if path.exists() {
        return Err(DeploymentError::Exists {
            path,
            hint: HINT_KEYGEN,
        });
    }
    files::create_dir(out_dir, Access::Secret)?;
    let identity = SecretIdentity::generate(id.clone(), role, &mut os_rng());
    let text = format::key_text(&identity);
    files::write_atomic(
        &path,
        text.as_bytes(),
        Access::Secret,
        Existing::Refuse(HINT_KEYGEN),
    )?;
    Ok(identity)
}
