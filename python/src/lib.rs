//! `dsmpc._native`: the Rust side of the Python package.
//!
//! A thin layer over `dsmpc::api` and `dsmpc::run_cli`: arguments arrive as the command line's
//! own (the Python wrapper in `dsmpc/__init__.py` builds them from keyword arguments), results
//! leave as the JSON the command line prints, and every call releases the GIL while it works.
//! Errors become the exception classes below, carrying the command line's message.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use dsmpc::api::{self, ErrorKind, Values};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    dsmpc,
    Error,
    PyException,
    "Every error dsmpc raises; the message is the command line's."
);
create_exception!(
    dsmpc,
    UsageError,
    Error,
    "Bad arguments: an unknown function, a missing or malformed option."
);
create_exception!(
    dsmpc,
    InputError,
    Error,
    "An input value was refused: NaN or infinite, more decimal places than the task's scale, \
     outside the task's range, or a range no field holds exactly. Never clipped."
);
create_exception!(
    dsmpc,
    DeploymentError,
    Error,
    "The deployment directory or a key file could not be read."
);
create_exception!(
    dsmpc,
    RefusedError,
    Error,
    "A server refused the request (unknown task, second bundle, closed task, ...)."
);
create_exception!(
    dsmpc,
    TaskFailedError,
    Error,
    "The edge signed that the task failed; the message names what is missing."
);
create_exception!(
    dsmpc,
    TimeoutError,
    Error,
    "Waiting for the committee, the cloud or the result took longer than allowed."
);
create_exception!(
    dsmpc,
    NetworkError,
    Error,
    "A server could not be reached, or the connection failed."
);

/// The Python exception for `error`, with the message the command line prints after `error: `.
fn to_py(error: anyhow::Error) -> PyErr {
    let message = format!("{error:#}");
    match ErrorKind::of(&error) {
        ErrorKind::Usage => UsageError::new_err(message),
        ErrorKind::Input => InputError::new_err(message),
        ErrorKind::Deployment => DeploymentError::new_err(message),
        ErrorKind::Refused => RefusedError::new_err(message),
        ErrorKind::TaskFailed => TaskFailedError::new_err(message),
        ErrorKind::Timeout => TimeoutError::new_err(message),
        ErrorKind::Network => NetworkError::new_err(message),
        ErrorKind::Other => Error::new_err(message),
    }
}

/// Runs the `dsmpc` command line with `args` (without the program's name) in this process and
/// returns its exit status. Servers (`cloud`, `edge`, `cp`) run until SIGINT or SIGTERM.
#[pyfunction]
fn cli(py: Python<'_>, args: Vec<String>) -> u8 {
    py.detach(|| dsmpc::run_cli(std::iter::once("dsmpc".to_owned()).chain(args)))
}

/// Runs `dsmpc simulate ARGS --json`; returns the JSON text it prints.
#[pyfunction]
fn simulate(py: Python<'_>, args: Vec<String>) -> PyResult<String> {
    py.detach(|| api::simulate(args))
        .map(|json| json.to_string())
        .map_err(to_py)
}

/// Runs `dsmpc task create ARGS`; returns the task id once the committee is admitted.
#[pyfunction]
fn create_task(py: Python<'_>, args: Vec<String>) -> PyResult<String> {
    py.detach(|| api::create_task(args)).map_err(to_py)
}

/// The values in `data`: native-endian float64 (`kind` "f8"), float32 ("f4") or int64 ("i8")
/// elements. A float32 is read through its own shortest decimal text (`0.1f32` is 0.1, not
/// 0.100000001490116…), as a `.npy` file's `<f4` elements are.
fn values(data: &[u8], kind: &str) -> PyResult<Values> {
    let width = match kind {
        "f8" | "i8" => 8,
        "f4" => 4,
        other => {
            return Err(UsageError::new_err(format!(
                "element kind {other:?} is none of \"f8\", \"f4\" and \"i8\""
            )));
        }
    };
    if !data.len().is_multiple_of(width) {
        return Err(UsageError::new_err(format!(
            "{} bytes are not whole {width}-byte elements",
            data.len()
        )));
    }
    let eight = || {
        data.chunks_exact(8)
            .map(|c| <[u8; 8]>::try_from(c).unwrap_or_default())
    };
    Ok(match kind {
        "f8" => Values::Floats(eight().map(f64::from_ne_bytes).collect()),
        "i8" => Values::Integers(eight().map(i64::from_ne_bytes).collect()),
        _ => Values::Floats(
            data.chunks_exact(4)
                .map(|c| f32::from_ne_bytes(<[u8; 4]>::try_from(c).unwrap_or_default()))
                .map(|x| x.to_string().parse::<f64>().unwrap_or(f64::NAN))
                .collect(),
        ),
    })
}

/// Submits the values in `data` (see [`values`]) as data provider `id` to `task`; returns once
/// the cloud has durably stored them.
#[pyfunction]
fn submit(
    py: Python<'_>,
    deployment: PathBuf,
    id: String,
    task: String,
    data: &[u8],
    kind: String,
    timeout: f64,
) -> PyResult<()> {
    let values = values(data, &kind)?;
    let timeout = seconds(timeout, "timeout")?;
    py.detach(|| api::submit(&deployment, &id, &task, &values, timeout))
        .map_err(to_py)
}

/// Closes `task`'s submissions now, as the cloud's operator.
#[pyfunction]
fn close_submissions(py: Python<'_>, deployment: PathBuf, task: String) -> PyResult<()> {
    py.detach(|| api::close_submissions(&deployment, &task))
        .map_err(to_py)
}

/// The result of `task` as `dsmpc result --json` prints it, waiting up to `wait` seconds.
#[pyfunction]
fn result(
    py: Python<'_>,
    deployment: PathBuf,
    id: String,
    task: String,
    wait: f64,
) -> PyResult<String> {
    let wait = seconds(wait, "wait")?;
    py.detach(|| api::result(&deployment, &id, &task, wait))
        .map(|json| json.to_string())
        .map_err(to_py)
}

fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        UsageError::new_err(format!(
            "{name}={value} is not a number of seconds (0 or more)"
        ))
    })
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(cli, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(create_task, m)?)?;
    m.add_function(wrap_pyfunction!(submit, m)?)?;
    m.add_function(wrap_pyfunction!(result, m)?)?;
    m.add_function(wrap_pyfunction!(close_submissions, m)?)?;
    m.add("Error", py.get_type::<Error>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("DeploymentError", py.get_type::<DeploymentError>())?;
    m.add("RefusedError", py.get_type::<RefusedError>())?;
    m.add("TaskFailedError", py.get_type::<TaskFailedError>())?;
    m.add("TimeoutError", py.get_type::<TimeoutError>())?;
    m.add("NetworkError", py.get_type::<NetworkError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
