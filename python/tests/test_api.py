"""The Python API: simulate, a live deployment, bad input, errors, the GIL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import dsmpc


def test_simulate_matches_the_plaintext_and_reports_what_the_cli_does(tmp_path):
    r = dsmpc.simulate(
        dps=30, cps=5, threshold=3, dim=4, func="weighted-mean", mode="verifiable",
        log_dir=tmp_path,
    )  # fmt: skip
    assert r.match
    assert r.result.dtype == np.float64 and r.result.shape == (4,)
    np.testing.assert_array_equal(r.result, r.expected)
    assert r.result_exact == r.expected_exact
    assert len(r.included) == 30 and r.included_count == 30
    assert r.excluded == [] and r.culprits == []
    assert r.bytes_per_dp > 0
    assert "admission" in r.phases and all(v >= 0 for v in r.phases.values())
    assert (r.n, r.t, r.dps, r.dim, r.function, r.mode) == (5, 3, 30, 4, "weighted-mean", "verifiable")
    assert (tmp_path / "flow.jsonl").exists()


def test_simulate_names_cheaters_and_excludes_them(tmp_path):
    r = dsmpc.simulate(
        dps=12, cps=5, threshold=3, func="sum", cheat_dps=["dp3"], cheat_cps=["cp2"],
        drop_cps=1, log_dir=tmp_path,
    )  # fmt: skip
    assert r.match
    assert "dp3" in r.excluded and "dp3" not in r.included
    assert set(r.culprits) >= {"dp3", "cp2"}
    assert {c["party"] for c in r.culprit_reasons} == set(r.culprits)


def test_simulate_fast_mode_with_validated_inputs_excludes_an_out_of_range_dp(tmp_path):
    r = dsmpc.simulate(
        dps=10, cps=3, threshold=2, dim=3, func="sum", mode="fast", validate=True,
        out_of_range_dps=["dp4"], log_dir=tmp_path,
    )  # fmt: skip
    assert r.match and "dp4" in r.excluded and "dp4" in r.culprits


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"func": "median"}, dsmpc.UsageError, "median"),
        ({"mode": "secret"}, dsmpc.UsageError, "secret"),
        ({"threshold": 9, "cps": 3}, dsmpc.Error, "threshold"),
        ({"min": float("nan")}, dsmpc.InputError, "not finite"),
        ({"min": True}, dsmpc.UsageError, "boolean"),
    ],
)
def test_bad_simulate_arguments_raise_the_cli_message(kwargs, error, text, tmp_path):
    with pytest.raises(error) as info:
        dsmpc.simulate(log_dir=tmp_path, **kwargs)
    assert text in str(info.value)
    assert isinstance(info.value, dsmpc.Error)


def test_decimal_text_is_exact_and_never_scientific():
    assert dsmpc.decimal(1.25) == "1.25"
    assert dsmpc.decimal(-10) == "-10"
    assert dsmpc.decimal(10.0) == "10"
    assert dsmpc.decimal(1e-7) == "0.0000001"
    assert dsmpc.decimal(1e22) == "10000000000000000000000"
    assert dsmpc.decimal(np.float32(0.5)) == "0.5"
    assert dsmpc.decimal("2.50") == "2.50"
    for bad in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(dsmpc.InputError):
            dsmpc.decimal(bad)
    with pytest.raises(dsmpc.UsageError):
        dsmpc.decimal(object())


@pytest.fixture(scope="module")
def cluster():
    with dsmpc.LocalCluster(cps=3, dps=6, threshold=2) as c:
        yield c


def test_a_live_deployment_computes_the_exact_mean(cluster):
    dep = dsmpc.Deployment(cluster.deployment.path)
    task = dep.create_task(func="mean", dim=3, min=-10, max=10, scale=2, deadline=20)
    inputs = {f"dp{i}": np.array([1.25, -3.5, 0.0]) * (i % 3) for i in range(1, 7)}
    for dp, x in inputs.items():
        dep.submit(dp, task, x)
    res = dep.result(task, wait=60)
    expected = np.mean(list(inputs.values()), axis=0)
    np.testing.assert_allclose(res.values, expected, rtol=0, atol=1e-12)
    assert res.exact == ["1.25000000", "-3.50000000", "0.00000000"]
    assert res.included == [f"dp{i}" for i in range(1, 7)]
    assert res.excluded == [] and res.culprits == []
    assert res.function == "mean" and res.task == task


def test_a_dp_that_does_not_submit_is_excluded_and_integers_are_accepted(cluster):
    dep = cluster.deployment
    task = dep.create_task(
        func="sum", dim=2, min=0, max=100, deadline=3, dps=["dp1", "dp2", "dp3"]
    )
    dep.submit("dp1", task, np.array([7, 8], dtype=np.int32))
    dep.submit("dp2", task, [1, 2])
    res = dep.result(task, wait=60)
    np.testing.assert_array_equal(res.values, [8.0, 10.0])
    assert res.included == ["dp1", "dp2"] and res.excluded == ["dp3"]


def test_float32_values_are_read_as_float32_prints_them(cluster):
    dep = cluster.deployment
    task = dep.create_task(func="sum", dim=3, min=-10, max=10, scale=1, deadline=20, dps=["dp1"])
    dep.submit("dp1", task, np.array([0.1, -2.5, 7.3], dtype=np.float32))
    assert dep.result(task, wait=60).exact == ["0.1", "-2.5", "7.3"]


def test_weighted_tasks_take_public_weights(cluster):
    dep = cluster.deployment
    task = dep.create_task(
        func="weighted-sum", min=-5, max=5, scale=1, deadline=20,
        weights={"dp1": 2, "dp2": 0.5}, weight_scale=1,
    )  # fmt: skip
    dep.submit("dp1", task, 1.5)
    dep.submit("dp2", task, -4)
    assert dep.result(task, wait=60).values.tolist() == [1.0]


@pytest.mark.parametrize(
    "values, text",
    [
        (np.array([np.nan, 0.0, 0.0]), "only finite values"),
        (np.array([np.inf, 0.0, 0.0]), "only finite values"),
        (np.array([0.0, -np.inf, 0.0]), "only finite values"),
        (np.array([0.0, np.nan, 0.0], dtype=np.float32), "only finite values"),
        (np.array([0.0, 10.5, 0.0], dtype=np.float32), "outside the declared range"),
        (np.array([11.0, 0.0, 0.0]), "outside the declared range"),
        (np.array([-10.01, 0.0, 0.0]), "outside the declared range"),
        (np.array([1.234, 0.0, 0.0]), "3 decimal places but the scale is 2"),
        (np.array([1.0, 2.0]), "the input has 2 values, but the task takes 3"),
        (np.array(["a", "b", "c"]), "integers or floats"),
        (np.array([True, False, True]), "boolean"),
    ],
)
def test_bad_inputs_raise_and_are_never_clipped(cluster, values, text):
    dep = cluster.deployment
    task = dep.create_task(func="mean", dim=3, min=-10, max=10, scale=2, deadline=20, dps=["dp1"])
    with pytest.raises(dsmpc.InputError) as info:
        dep.submit("dp1", task, values)
    assert text in str(info.value)
    # Nothing was stored: the same DP may still submit a good input.
    dep.submit("dp1", task, np.array([10.0, -10.0, 0.25]))
    assert dep.result(task, wait=60).exact == ["10.00000000", "-10.00000000", "0.25000000"]


def test_the_operator_closes_a_task_early(cluster):
    dep = cluster.deployment
    task = dep.create_task(func="sum", min=0, max=10, deadline=600, dps=["dp1", "dp2", "dp3"])
    dep.submit("dp1", task, 4)
    dep.submit("dp2", task, 5)
    started = time.monotonic()
    dep.close(task)
    dep.close(task)  # again: acknowledged, nothing changes
    with pytest.raises(dsmpc.RefusedError):
        dep.submit("dp3", task, 6)
    res = dep.result(task, wait=60)
    assert time.monotonic() - started < 60, "the result came at the deadline, not the close"
    assert res.values.tolist() == [9.0]
    assert res.included == ["dp1", "dp2"] and res.excluded == ["dp3"]
    with pytest.raises(dsmpc.RefusedError, match="unknown task"):
        dep.close("0" * 32)


def test_protocol_errors_have_their_own_classes(cluster, tmp_path):
    dep = cluster.deployment
    task = dep.create_task(func="sum", min=0, max=10, deadline=20, dps=["dp1", "dp2"])
    dep.submit("dp1", task, 3)
    with pytest.raises(dsmpc.RefusedError):
        dep.submit("dp1", task, 4)  # a second, different bundle
    with pytest.raises(dsmpc.TimeoutError, match="timed out"):
        dep.result(task, wait=0.5)  # dp2 has not submitted, the deadline is 20 s away
    with pytest.raises(dsmpc.Error, match="not 32 hexadecimal digits"):
        dep.submit("dp1", "nonsense", 1)
    with pytest.raises(dsmpc.DeploymentError):
        dsmpc.Deployment(tmp_path)
    with pytest.raises(dsmpc.DeploymentError, match="dp99"):
        dep.submit("dp99", task, 1)
    with pytest.raises(dsmpc.UsageError, match="--func"):
        dep.create_task(func="median")
    with pytest.raises(dsmpc.UsageError, match="seconds"):
        dep.result(task, wait=-1)


def test_an_unreachable_cloud_is_a_network_error(tmp_path):
    with dsmpc.LocalCluster(cps=1, dps=1, threshold=1, directory=tmp_path, start=False) as c:
        with pytest.raises((dsmpc.NetworkError, dsmpc.TimeoutError)) as info:
            c.deployment.submit("dp1", "0" * 32, 1, timeout=1)
        assert "cloud" in str(info.value)


def test_calls_release_the_gil(cluster):
    """A result wait must not stop other Python threads."""
    dep = cluster.deployment
    task = dep.create_task(func="sum", min=0, max=10, deadline=20, dps=["dp1", "dp2"])
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        with pytest.raises(dsmpc.TimeoutError):
            dep.result(task, wait=1)
    finally:
        stop.set()
        ticker.join()
    assert len(ticks) > 20, f"only {len(ticks)} ticks while dsmpc waited 1 s"


def test_the_cli_runs_in_python(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "dsmpc", "plan", "--min", "-100", "--max", "100", "--dps", "1000"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "field" in out.stdout
    assert dsmpc.cli(["plan", "--min", "1", "--max", "0"]) == 1
    assert dsmpc.cli(["--version"]) == 0


def test_an_error_says_what_the_cli_says(cluster):
    """The same bad task, through the CLI and through Python: the same message."""
    dep = str(cluster.deployment.path)
    out = subprocess.run(
        [sys.executable, "-m", "dsmpc", "task", "create", "--deployment", dep, "--func", "sum",
         "--min", "5", "--max", "1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 1
    cli_message = out.stderr.strip().splitlines()[-1]
    assert cli_message.startswith("error: ")
    with pytest.raises(dsmpc.Error) as info:
        cluster.deployment.create_task(func="sum", min=5, max=1)
    assert str(info.value) == cli_message[len("error: "):]
