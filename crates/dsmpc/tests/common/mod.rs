//! What the command-line tests share: the `dsmpc` binary, with a time limit.

use std::time::Duration;

use assert_cmd::Command;

/// A command that takes longer than this has hung (the slowest here, a simulation with late CPs,
/// waits a few seconds for the report deadline): it is killed, so the test fails instead of
/// stalling CI.
pub const RUN_LIMIT: Duration = Duration::from_secs(180);

/// `dsmpc`, killed after [`RUN_LIMIT`].
pub fn dsmpc() -> Command {
    let mut command = Command::cargo_bin("dsmpc").expect("the dsmpc binary is built");
    command.timeout(RUN_LIMIT);
    command
}
