//! `dsmpc init` and `dsmpc keygen`: make a deployment directory, or one party's keys.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use dsmpc_core::identity::{PartyId, Role};
use dsmpc_net::deployment::{self, Deployment, InitOptions, check_address};

/// Arguments of `dsmpc init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to write roster.toml, deployment.toml and keys/ into (created if missing).
    dir: PathBuf,
    /// Number of computing parties, cp1..cpN.
    #[arg(long, default_value_t = 3)]
    cps: u32,
    /// Number of data providers, dp1..dpM.
    #[arg(long, default_value_t = 5)]
    dps: u32,
    /// Default threshold: result shares needed to reconstruct (1 to --cps).
    #[arg(long, default_value_t = 2)]
    threshold: u32,
    /// Host name or IP address the cloud, edge and computing parties listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port of the cloud; the edge gets the next one, cp_i the i-th after that.
    #[arg(long, default_value_t = 7400)]
    base_port: u16,
    /// Replace an existing deployment in DIR (new keys for every party).
    #[arg(long)]
    force: bool,
    /// Register the DPs in this PostgreSQL database, for a cloud run with
    /// `dsmpc cloud --database URL` (postgresql://USER[:PASSWORD]@HOST:PORT/DB).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Front-ends of the cloud (1 to 64; more than one needs --database): the roster lists
    /// one address per front-end, the first on --base-port, the others after the computing
    /// parties' ports. Start each with `dsmpc cloud --frontend I`.
    #[arg(long, default_value_t = 1, value_name = "K")]
    cloud_frontends: u32,
}

/// Arguments of `dsmpc keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The party's id: 1-64 characters from a-z, 0-9, '.', '_' and '-' (e.g. cp4, dp17).
    #[arg(long, value_parser = parse_party_id)]
    id: PartyId,
    /// The party's role.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Directory to write <ID>.key into (created, mode 0700, if missing).
    #[arg(long)]
    out: PathBuf,
    /// HOST:PORT where the party accepts connections (cloud, edge and cp; not dp).
    #[arg(long, value_parser = parse_address)]
    address: Option<String>,
}

/// A role, as spelt on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    /// Publishes tasks and relays messages.
    Cloud,
    /// Reconstructs and checks results.
    Edge,
    /// A computing party: aggregates shares.
    Cp,
    /// A data provider: shares its input.
    Dp,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Cloud => Role::Cloud,
            RoleArg::Edge => Role::Edge,
            RoleArg::Cp => Role::Cp,
            RoleArg::Dp => Role::Dp,
        }
    }
}

/// Validates a party id for clap.
fn parse_party_id(text: &str) -> Result<PartyId, String> {
    PartyId::new(text).map_err(|err| err.to_string())
}

/// Validates a `HOST:PORT` address for clap.
fn parse_address(text: &str) -> Result<String, String> {
    check_address(text).map(|()| text.to_owned())
}

/// Writes a deployment and prints what was made.
pub fn run_init(args: &InitArgs) -> Result<()> {
    let opts = InitOptions {
        cps: args.cps,
        dps: args.dps,
        threshold: args.threshold,
        host: args.host.clone(),
        base_port: args.base_port,
        force: args.force,
        database: args.database.clone(),
        cloud_frontends: args.cloud_frontends,
    };
    let made = deployment::init(&args.dir, &opts)
        .with_context(|| format!("cannot initialise a deployment in {}", args.dir.display()))?;
    print_summary(&made, args.dps);
    Ok(())
}

/// Prints the parties, their addresses and what to do next.
fn print_summary(made: &Deployment, dps: u32) {
    let dir = made.dir.display();
    let cps = made.roster.of_role(Role::Cp).count();
    println!(
        "initialised {dir}: cloud, edge, {cps} computing parties, {dps} data providers, threshold {}",
        made.defaults.threshold
    );
    for role in [Role::Cloud, Role::Edge, Role::Cp] {
        for card in made.roster.of_role(role) {
            let address = made.addresses.get(&card.id).map_or("-", String::as_str);
            println!(
                "  {:<8} {:<5} listens on {address}",
                card.id.as_str(),
                role.name()
            );
        }
    }
    println!("  dp1..dp{dps} data providers (connect out only)");
    println!("wrote:");
    println!(
        "  {dir}/roster.toml      the servers' public keys and addresses: every party needs it"
    );
    println!("  {dir}/deployment.toml  task defaults (threshold, mode, timeouts)");
    println!("  {dir}/keys/<id>.key    SECRET keys, mode 0600: give each party only its own");
    println!("  {dir}/cloud.db         the cloud's store, with dp1..dp{dps} registered");
    println!("next: copy roster.toml and deployment.toml to every machine, and keys/<id>.key only");
    println!("      to the machine of party <id>; each party then runs with --deployment DIR.");
    println!("      More DPs: `dsmpc keygen --role dp`, then `dsmpc dp register` on the cloud.");
}

/// Writes one party's key and prints its roster block.
pub fn run_keygen(args: &KeygenArgs) -> Result<()> {
    let role = Role::from(args.role);
    if role == Role::Dp && args.address.is_some() {
        anyhow::bail!("--address: data providers only connect out; leave out --address for a dp");
    }
    let identity = deployment::keygen(&args.id, role, &args.out)
        .with_context(|| format!("cannot make the keys of {}", args.id))?;
    let path = args.out.join(format!("{}.key", args.id));
    eprintln!(
        "wrote {} (SECRET, mode 0600: keep it on this machine only)",
        path.display()
    );
    if role != Role::Dp && args.address.is_none() {
        eprintln!(
            "note: a {role} accepts connections; add address = \"HOST:PORT\" to the block below"
        );
    }
    if role == Role::Dp {
        eprintln!(
            "send this block to the cloud's operator, who registers it with \
             `dsmpc dp register --deployment DIR --card FILE`; this DP then needs only its key \
             file and the deployment's roster.toml and deployment.toml:"
        );
    } else {
        eprintln!("add this block to roster.toml on every machine:");
    }
    print!(
        "{}",
        deployment::card_toml(identity.card(), args.address.as_deref())
    );
    Ok(())
}
