//! The library face of the `dsmpc` command, which the Python package (`python/`) calls.
//!
//! Each function takes what the command line takes — the same arguments, parsed by the same clap
//! definitions — so a Python caller gets the same checks, defaults and error messages as the CLI,
//! and returns values instead of printing them. [`ErrorKind::of`] sorts an error into the classes
//! the Python package raises.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use dsmpc_core::task::TaskId;
use dsmpc_net::client::NetError;
use dsmpc_net::deployment::DeploymentError;
use dsmpc_net::values::ValuesError;

pub use dsmpc_net::values::Values;

use crate::roles::{self, Common, CreateArgs};
use crate::simulate::{self, SimulateArgs};

/// `dsmpc simulate`'s arguments alone.
#[derive(Debug, Parser)]
#[command(name = "dsmpc simulate", no_binary_name = true)]
struct SimulateCli {
    #[command(flatten)]
    args: SimulateArgs,
}

/// `dsmpc task create`'s arguments alone.
#[derive(Debug, Parser)]
#[command(name = "dsmpc task create", no_binary_name = true)]
struct CreateCli {
    #[command(flatten)]
    args: CreateArgs,
}

/// Runs `dsmpc simulate ARGS --json` in this process and returns the JSON object it prints (a
/// result that differs from the plaintext is `"match": false`, not an error). Logs go to the
/// run's log directory (`--log-dir`, by default `log/<timestamp>/`).
pub fn simulate<I, T>(args: I) -> Result<serde_json::Value>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    args.push("--json".into());
    let cli = SimulateCli::try_parse_from(args)?;
    let dir = cli.args.log_dir()?;
    roles::init_logging_to(&dir.join("dsmpc.log"))?;
    simulate::run_json(&cli.args, &dir)
}

/// Runs `dsmpc task create ARGS` (as the cloud's operator, with the cloud's key from the
/// deployment) and returns the new task's id once its committee is admitted.
pub fn create_task<I, T>(args: I) -> Result<String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = CreateCli::try_parse_from(args)?;
    Ok(roles::create_task(&cli.args)?.0.body.id.to_string())
}

/// Submits `values` as data provider `id` of `deployment` to `task` (`dsmpc dp`); returns once
/// the cloud has durably stored them, waiting up to `timeout` for the cloud and the committee.
pub fn submit(
    deployment: &Path,
    id: &str,
    task: &str,
    values: &Values,
    timeout: Duration,
) -> Result<()> {
    let task = parse_task(task)?;
    roles::submit(
        &Common::new(deployment.to_owned()),
        id,
        task,
        values,
        timeout,
    )
}

/// Closes `task`'s submissions now instead of at its deadline, as the cloud's operator
/// (`dsmpc task close`).
pub fn close_submissions(deployment: &Path, task: &str) -> Result<()> {
    let task = parse_task(task)?;
    roles::close_submissions(&Common::new(deployment.to_owned()), task)
}

/// The result of `task` (`dsmpc result --json`: the same JSON object), waiting up to `wait` for
/// the edge, connecting with the keys of `id` (any server of the roster).
pub fn result(
    deployment: &Path,
    id: &str,
    task: &str,
    wait: Duration,
) -> Result<serde_json::Value> {
    let task = parse_task(task)?;
    Ok(roles::result(&Common::new(deployment.to_owned()), id, task, wait)?.json())
}

fn parse_task(task: &str) -> Result<TaskId> {
    task.parse()
        .with_context(|| format!("{task:?} is not a task id (as `dsmpc task create` prints)"))
}

/// What kind of failure an error is, for the Python package's exception classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad arguments: an unknown function, a missing or malformed option.
    Usage,
    /// An input value was refused: not a finite number, more decimal places than the task's
    /// scale, outside the task's declared range, or a range no field holds exactly.
    Input,
    /// The deployment directory or a key file could not be read.
    Deployment,
    /// A server refused the request (an unknown task, a second bundle, a closed task, …).
    Refused,
    /// The edge signed that the task failed: it names what is missing.
    TaskFailed,
    /// Waiting for the committee, the cloud or the result took longer than allowed.
    Timeout,
    /// A server could not be reached, or the connection failed.
    Network,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kind of the first error in `error`'s chain that has one.
    pub fn of(error: &anyhow::Error) -> ErrorKind {
        error
            .chain()
            .find_map(|e| {
                if e.is::<clap::Error>() {
                    Some(ErrorKind::Usage)
                } else if e.is::<ValuesError>() {
                    Some(ErrorKind::Input)
                } else if e.is::<DeploymentError>() {
                    Some(ErrorKind::Deployment)
                } else if let Some(net) = e.downcast_ref::<NetError>() {
                    Self::of_net(net)
                } else {
                    e.downcast_ref::<dsmpc_core::Error>()
                        .and_then(Self::of_core)
                }
            })
            .unwrap_or(ErrorKind::Other)
    }

    fn of_net(error: &NetError) -> Option<ErrorKind> {
        match error {
            NetError::Refused { .. } => Some(ErrorKind::Refused),
            NetError::TaskFailed { .. } => Some(ErrorKind::TaskFailed),
            NetError::Timeout { .. } => Some(ErrorKind::Timeout),
            NetError::Channel { .. } | NetError::Closed { .. } => Some(ErrorKind::Network),
            NetError::Input(_) => Some(ErrorKind::Input),
            NetError::Core(core) => Self::of_core(core),
            _ => None,
        }
    }

    fn of_core(error: &dsmpc_core::Error) -> Option<ErrorKind> {
        use dsmpc_core::Error as E;
        match error {
            E::InvalidNumber { .. }
            | E::ValueOutOfRange { .. }
            | E::BoundTooLarge { .. }
            | E::InputLength { .. } => Some(ErrorKind::Input),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_arguments_are_usage_errors_with_clap_messages() {
        let err = simulate(["--func", "median"]).unwrap_err();
        assert_eq!(ErrorKind::of(&err), ErrorKind::Usage);
        assert!(format!("{err:#}").contains("median"), "{err:#}");
        let err = create_task(["--func", "sum"]).unwrap_err();
        assert_eq!(ErrorKind::of(&err), ErrorKind::Usage);
        assert!(format!("{err:#}").contains("--deployment"), "{err:#}");
    }

    #[test]
    fn a_missing_deployment_and_a_bad_task_id_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let values = Values::Floats(vec![1.0]);
        let err = submit(
            dir.path(),
            "dp1",
            "nonsense",
            &values,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("\"nonsense\" is not a task id"),
            "{err:#}"
        );
        let err = result(
            &dir.path().join("absent"),
            "cloud",
            &"0".repeat(32),
            Duration::ZERO,
        )
        .unwrap_err();
        assert_eq!(ErrorKind::of(&err), ErrorKind::Deployment, "{err:#}");
        assert!(format!("{err:#}").contains("absent"), "{err:#}");
    }

    #[test]
    fn input_errors_are_sorted_as_input() {
        let err: anyhow::Error = Values::Floats(vec![f64::NAN])
            .mantissas(2)
            .unwrap_err()
            .into();
        assert_eq!(ErrorKind::of(&err.context("submitting")), ErrorKind::Input);
        let out_of_range: anyhow::Error = NetError::Core(dsmpc_core::Error::ValueOutOfRange {
            value: "11".into(),
            min: "-10".into(),
            max: "10".into(),
        })
        .into();
        assert_eq!(ErrorKind::of(&out_of_range), ErrorKind::Input);
        let timeout: anyhow::Error = NetError::Timeout {
            what: "the result".into(),
            seconds: 1,
        }
        .into();
        assert_eq!(ErrorKind::of(&timeout), ErrorKind::Timeout);
    }
}
