//! A process that runs several simulations (the Python package) writes each one's log to that
//! run's own `dsmpc.log`. In its own test binary: the logger is process-wide.

fn simulate_logging_to(dir: &std::path::Path) -> String {
    let dir = dir.to_str().unwrap();
    let args = [
        "--dps",
        "4",
        "--cps",
        "3",
        "--threshold",
        "2",
        "--log-dir",
        dir,
    ];
    let report = dsmpc::api::simulate(args).unwrap();
    assert_eq!(report["match"], true, "{report}");
    let log = std::fs::read_to_string(std::path::Path::new(dir).join("dsmpc.log")).unwrap();
    assert!(!log.is_empty(), "the run in {dir} logged nothing");
    log
}

#[test]
fn each_simulation_logs_to_its_own_directory() {
    let root = tempfile::tempdir().unwrap();
    let (first, second) = (root.path().join("first"), root.path().join("second"));
    let first_log = simulate_logging_to(&first);
    let lines_of_first = first_log.lines().count();
    simulate_logging_to(&second);
    let first_after = std::fs::read_to_string(first.join("dsmpc.log")).unwrap();
    assert_eq!(
        first_after.lines().count(),
        lines_of_first,
        "the second run wrote into the first run's log"
    );
}
