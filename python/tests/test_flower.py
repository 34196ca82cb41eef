"""dsmpc.flower: the weighted update, the mod against a live deployment, and the example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    import flwr  # noqa: F401
except ImportError:  # pragma: no cover
    if os.environ.get("DSMPC_REQUIRE_FLOWER"):
        raise  # CI installs Flower: these tests must run there, not skip
    pytest.skip("pip install 'flwr[simulation]' to test dsmpc.flower", allow_module_level=True)

from flwr.app import ConfigRecord, Context, Message, RecordDict  # noqa: E402
from flwr.app.message_type import MessageType  # noqa: E402
from flwr.common import (  # noqa: E402
    Code,
    FitIns,
    FitRes,
    Status,
    ndarrays_to_parameters,
)
import flwr.compat.common.recorddict_compat as compat  # noqa: E402

import dsmpc  # noqa: E402
from dsmpc.flower import (  # noqa: E402
    RECORD,
    DsmpcFedAvgWorkflow,
    default_dp_of,
    make_dsmpc_mod,
    weighted_update,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flower" / "run.py"


@pytest.fixture(autouse=True)
def task_identity():
    """Messages made outside a Flower runtime need the identity a runtime would set."""
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0
    yield


def test_the_weighted_update_is_n_times_x_then_n_rounded_to_the_scale():
    arrays = [np.array([[0.123456789, -1.0], [2.5, 0.0]]), np.array([1e-9, -3.25])]
    got = weighted_update(arrays, 3, scale=6)
    np.testing.assert_array_equal(
        got, [0.370370, -3.0, 7.5, 0.0, 0.0, -9.75, 3.0]
    )
    # Every value's shortest text has at most `scale` places: dsmpc takes it exactly.
    for v in got:
        assert dsmpc.decimal(v).partition(".")[2].__len__() <= 6


def test_the_node_names_its_data_provider():
    ctx = Context(run_id=1, node_id=7, node_config={"partition-id": 4}, state=RecordDict(),
                  run_config={})  # fmt: skip
    assert default_dp_of(ctx) == "dp5"
    ctx = Context(run_id=1, node_id=7, node_config={"dsmpc-dp": "hospital-a"},
                  state=RecordDict(), run_config={})  # fmt: skip
    assert default_dp_of(ctx) == "hospital-a"
    ctx = Context(run_id=1, node_id=7, node_config={}, state=RecordDict(), run_config={})
    with pytest.raises(dsmpc.Error, match="dsmpc-dp"):
        default_dp_of(ctx)


def _train_message(task: str, scale: int) -> Message:
    content = compat.fitins_to_recorddict(
        FitIns(ndarrays_to_parameters([np.zeros(3)]), {}), True
    )
    content.config_records[RECORD] = ConfigRecord({"task": task, "scale": scale})
    return Message(content=content, dst_node_id=1, message_type=MessageType.TRAIN)


def _fit_reply(params, n):
    def call_next(msg: Message, ctxt: Context) -> Message:
        assert RECORD not in msg.content.config_records, "the client must not see dsmpc's record"
        res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(params), n, {})
        return Message(compat.fitres_to_recorddict(res, True), reply_to=msg)

    return call_next


def test_the_mod_submits_the_update_and_sends_the_server_none_of_it():
    with dsmpc.LocalCluster(cps=3, dps=2, threshold=2) as cluster:
        dep = cluster.deployment
        mod = make_dsmpc_mod(dep.path)
        task = dep.create_task(func="sum", dim=4, min=-1000, max=1000, scale=4, deadline=30)
        replies = []
        for pid, (params, n) in enumerate([([np.array([1.5, -2.0, 0.25])], 10),
                                            ([np.array([0.5, 4.0, -0.75])], 30)]):  # fmt: skip
            ctx = Context(run_id=1, node_id=pid + 1, node_config={"partition-id": pid},
                          state=RecordDict(), run_config={})  # fmt: skip
            replies.append(mod(_train_message(task, 4), ctx, _fit_reply(params, n)))
        for reply, dp in zip(replies, ["dp1", "dp2"]):
            assert not reply.has_error()
            assert reply.content.array_records == {} or all(
                len(r) == 0 for r in reply.content.array_records.values()
            ), "the update itself must not go to the server"
            assert dict(reply.content.config_records[RECORD]) == {
                "dp": dp, "task": task, "stored": True,
            }  # fmt: skip
        res = dep.result(task, wait=60)
        # Σ n·x and Σ n; the mean is their quotient.
        np.testing.assert_array_equal(res.values, [30.0, 100.0, -20.0, 40.0])
        np.testing.assert_allclose(res.values[:-1] / res.values[-1], [0.75, 2.5, -0.5])


def test_an_update_outside_the_bound_is_refused_not_clipped():
    with dsmpc.LocalCluster(cps=3, dps=1, threshold=2) as cluster:
        dep = cluster.deployment
        task = dep.create_task(func="sum", dim=2, min=-8, max=8, scale=2, deadline=30)
        ctx = Context(run_id=1, node_id=1, node_config={"partition-id": 0}, state=RecordDict(),
                      run_config={})  # fmt: skip
        mod = make_dsmpc_mod(dep.path)
        with pytest.raises(dsmpc.InputError, match="outside the declared range"):
            mod(_train_message(task, 2), ctx, _fit_reply([np.array([9.0])], 1))


def test_a_round_whose_task_gives_no_result_is_skipped_not_fatal():
    """A computing party dies after the committee formed, so a task that needs all three
    cannot finish: the workflow records the round as failed and returns no result (the
    parameters stay), instead of raising out of the ServerApp."""
    with dsmpc.LocalCluster(cps=3, dps=2, threshold=3) as cluster:
        dep = cluster.deployment
        task = dep.create_task(func="sum", dim=2, min=-10, max=10, scale=2, deadline=30)
        cluster.kill("cp3")
        for dp in ("dp1", "dp2"):
            dep.submit(dp, task, [1.0, 2.0])
        dep.close(task)
        workflow = DsmpcFedAvgWorkflow(dep.path, result_wait=3)
        assert workflow._result_of(task, 7) is None
        assert workflow.failed_rounds == [7]
        # Any other error still stops the run.
        with pytest.raises(dsmpc.Error):
            workflow._result_of("not-a-task", 8)
        assert workflow.failed_rounds == [7]


def test_messages_without_a_dsmpc_record_pass_through():
    mod = make_dsmpc_mod("/nonexistent")
    msg = Message(content=RecordDict(), dst_node_id=1, message_type=MessageType.EVALUATE)
    seen = []
    mod(msg, None, lambda m, c: seen.append(m) or m)
    assert seen == [msg]


def test_the_example_matches_plain_fedavg_with_a_dropout():
    """The Flower example at a small size: all three runs, a client dropping out from round 2."""
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--clients", "6", "--rounds", "2", "--drop", "1",
         "--json"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["max_abs_diff_vs_fedavg"] <= 1e-5
    assert result["dsmpc_accuracy"] == pytest.approx(result["fedavg_accuracy"], abs=1e-9)
    assert result["dsmpc_last_round"]["excluded"] == ["dp6"]
    assert result["dsmpc_last_round"]["included"] == 5
    for key in ("dsmpc_s_per_round", "secaggplus_s_per_round", "fedavg_accuracy",
                "secaggplus_accuracy"):  # fmt: skip
        assert isinstance(result[key], float)
