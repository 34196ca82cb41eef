"""Flower integration: dsmpc as the secure aggregation of FedAvg.

Two pieces, used like Flower's own ``secaggplus_mod`` and ``SecAggPlusWorkflow``:

* :func:`make_dsmpc_mod` makes a ClientApp *mod*. When the server's training message names a
  dsmpc task, the mod runs the client's training (``call_next``), then submits
  ``[n·x₁, …, n·x_P, n]`` — the update's P parameters weighted by the client's number of
  examples, and that number — to dsmpc as the client's data provider, and sends the server
  nothing of the update: the reply says only that dsmpc stored it.
* :class:`DsmpcFedAvgWorkflow` is a fit workflow for ``DefaultWorkflow``. Each round it creates a
  dsmpc task (as the deployment's operator) listing the sampled clients' data providers, sends the
  training messages, closes the task's submissions once every client has answered (a client that
  failed or dropped out is left out of the sum, never waited for), and reads the result:
  ``Σ n·x`` and ``Σ n``, whose quotient is FedAvg's weighted mean. Neither the server nor any
  single computing party sees a client's update or its number of examples.

Values are exact fixed-point decimals with ``scale`` places: each weighted parameter is rounded
to ``scale`` places before it is shared, so the mean differs from plain FedAvg's by at most
``0.5·10^-scale`` per parameter and round. A weighted parameter outside ``[-bound, bound]`` is an
error of that client (never clipped): it is left out of the round and named in the log.

The client learns its data provider id from ``make_dsmpc_mod(dp_of=...)``; by default the node
config's ``dsmpc-dp`` or, in simulation, ``dp{partition-id + 1}``. The server learns which data
provider each node is by asking once (a ``query`` message the mod answers).
"""

from __future__ import annotations

import os
import time
from logging import INFO, WARNING
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union, cast

import numpy as np

import flwr.compat.common.recorddict_compat as compat
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp.grid import Grid
from flwr.supercore import log

from . import Deployment, Error, Result, TaskFailedError, decimal
from . import TimeoutError as DsmpcTimeout

#: The config record a dsmpc message carries.
RECORD = "dsmpc"

PathLike = Union[str, "os.PathLike[str]"]


def default_dp_of(context: Context) -> str:
    """A client's data provider id: the node config's ``dsmpc-dp``, else (in simulation)
    ``dp{partition-id + 1}``."""
    config = context.node_config
    if "dsmpc-dp" in config:
        return str(config["dsmpc-dp"])
    if "partition-id" in config:
        return f"dp{int(cast(int, config['partition-id'])) + 1}"
    raise Error(
        "this node has no dsmpc data provider id: set node config dsmpc-dp, or pass "
        "make_dsmpc_mod(dp_of=...)"
    )


def weighted_update(arrays: Sequence[np.ndarray], num_examples: int, scale: int) -> np.ndarray:
    """``[n·x₁, …, n·x_P, n]`` for the parameters ``arrays`` (flattened in order, C order),
    each rounded to ``scale`` decimal places: what a client submits."""
    flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    weighted = np.append(flat * float(num_examples), float(num_examples))
    return np.round(weighted, scale)


def make_dsmpc_mod(
    deployment: Optional[PathLike] = None,
    dp_of: Callable[[Context], str] = default_dp_of,
    timeout: float = 60.0,
) -> Callable[[Message, Context, Callable[[Message, Context], Message]], Message]:
    """A ClientApp mod that sends the client's training update through dsmpc.

    ``deployment`` is the client's deployment directory (holding its own key); by default the
    node config's ``dsmpc-deployment`` or the environment's ``DSMPC_DEPLOYMENT``. Messages that
    carry no dsmpc record pass through untouched, so the same ClientApp also serves plain
    rounds and evaluation.
    """

    def deployment_of(context: Context) -> Deployment:
        path: Optional[PathLike] = deployment
        if path is None:
            configured = context.node_config.get("dsmpc-deployment")
            path = str(configured) if configured else os.environ.get("DSMPC_DEPLOYMENT")
        if path is None:
            raise Error(
                "no dsmpc deployment for this client: pass make_dsmpc_mod(deployment=...), set "
                "node config dsmpc-deployment or the environment variable DSMPC_DEPLOYMENT"
            )
        return Deployment(cast(PathLike, path))

    def dsmpc_mod(
        msg: Message, ctxt: Context, call_next: Callable[[Message, Context], Message]
    ) -> Message:
        if not msg.has_content() or RECORD not in msg.content.config_records:
            return call_next(msg, ctxt)
        config = msg.content.config_records[RECORD]
        if msg.metadata.message_type == MessageType.QUERY and config.get("stage") == "hello":
            reply = RecordDict()
            reply.config_records[RECORD] = ConfigRecord({"dp": dp_of(ctxt)})
            return Message(reply, reply_to=msg)
        if msg.metadata.message_type != MessageType.TRAIN:
            return call_next(msg, ctxt)
        task, scale = str(config["task"]), int(cast(int, config["scale"]))
        del msg.content.config_records[RECORD]
        out = call_next(msg, ctxt)
        if out.has_error():
            return out
        fitres = compat.recorddict_to_fitres(out.content, keep_input=True)
        update = weighted_update(
            parameters_to_ndarrays(fitres.parameters), fitres.num_examples, scale
        )
        dp = dp_of(ctxt)
        deployment_of(ctxt).submit(dp, task, update, timeout=timeout)
        reply = RecordDict()
        reply.config_records[RECORD] = ConfigRecord({"dp": dp, "task": task, "stored": True})
        return Message(reply, reply_to=msg)

    return dsmpc_mod


class DsmpcFedAvgWorkflow:
    """A fit workflow (``DefaultWorkflow(fit_workflow=DsmpcFedAvgWorkflow(...))``) that
    aggregates the clients' updates with dsmpc: FedAvg's weighted mean, with the weights private.

    ``deployment`` is the operator's deployment directory (the cloud's key); its servers must be
    running. ``scale`` is the decimal places kept of each weighted parameter ``n·x``, ``bound``
    the largest ``|n·x|`` (and ``n``) allowed. ``mode`` is ``verifiable`` (every share checked
    against the client's commitments; cheating clients and computing parties named) or
    ``fast``. ``deadline`` is the most seconds a round's task stays open for the clients'
    training and upload; it closes as soon as every client answered. ``cps`` and ``threshold``
    default to the deployment's.
    """

    def __init__(
        self,
        deployment: PathLike,
        *,
        scale: int = 8,
        bound: float = 1e6,
        mode: str = "verifiable",
        deadline: int = 600,
        cps: Optional[int] = None,
        threshold: Optional[int] = None,
        timeout: Optional[int] = None,
        result_wait: float = 120.0,
    ) -> None:
        self.deployment = Deployment(deployment)
        self.scale = scale
        self.bound = decimal(bound, "bound")
        self.mode = mode
        self.deadline = deadline
        self.cps = cps
        self.threshold = threshold
        self.timeout = timeout
        self.result_wait = result_wait
        self.dp_of_node: Dict[int, str] = {}
        self.last_result: Optional[Result] = None
        """The dsmpc result of the last round (included, excluded, culprits)."""
        self.seconds: List[float] = []
        """Seconds each round's fit took, creating the task to the new parameters."""
        self.failed_rounds: List[int] = []
        """Rounds whose task failed or gave no result in time: skipped, parameters unchanged."""

    def __call__(self, grid: Grid, context: Context) -> None:
        if not isinstance(context, LegacyContext):
            raise TypeError(f"Expect a LegacyContext, but get {type(context).__name__}.")
        started = time.monotonic()
        cfg = context.state.config_records[MAIN_CONFIGS_RECORD]
        current_round = cast(int, cfg[WorkflowKey.CURRENT_ROUND])
        parameters = compat.arrayrecord_to_parameters(
            context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True
        )
        instructions = context.strategy.configure_fit(
            server_round=current_round,
            parameters=parameters,
            client_manager=context.client_manager,
        )
        if not instructions:
            log(INFO, "configure_fit: no clients selected, cancel")
            return
        shapes = [a.shape for a in parameters_to_ndarrays(parameters)]
        size = int(sum(int(np.prod(s)) for s in shapes))
        self._learn_dps(grid, [proxy.node_id for proxy, _ in instructions], current_round)
        listed = {p.node_id: self.dp_of_node[p.node_id] for p, _ in instructions
                  if p.node_id in self.dp_of_node}  # fmt: skip
        if not listed:
            log(WARNING, "dsmpc: no sampled client told its data provider id; round skipped")
            return
        task = self.deployment.create_task(
            func="sum", dim=size + 1, min=f"-{self.bound}", max=self.bound, scale=self.scale,
            deadline=self.deadline, dps=sorted(set(listed.values())), mode=self.mode,
            cps=self.cps, threshold=self.threshold, timeout=self.timeout,
        )  # fmt: skip
        log(INFO, "dsmpc: round %s is task %s over %s clients", current_round, task, len(listed))
        replies = self._train(grid, instructions, listed, task, current_round)
        stored = [nid for nid, msg in replies.items() if _stored(msg, task)]
        if len(stored) < len(listed):
            # Someone failed or dropped out: the task need not wait for them.
            self.deployment.close(task)
        result = self._result_of(task, current_round)
        if result is None:
            return
        self.last_result = result
        total = result.values[-1]
        log(INFO, "dsmpc: %s included, %s excluded %s, culprits %s, Σn = %s",
            len(result.included), len(result.excluded), result.excluded, result.culprits,
            result.exact[-1])  # fmt: skip
        if total <= 0:
            log(WARNING, "dsmpc: no client's update was included; parameters unchanged")
            return
        mean = result.values[:-1] / total
        arrays, at = [], 0
        for shape in shapes:
            n = int(np.prod(shape))
            arrays.append(mean[at : at + n].reshape(shape))
            at += n
        self._set_parameters(context, current_round, instructions, stored, arrays, listed)
        self.seconds.append(time.monotonic() - started)

    def _result_of(self, task: str, current_round: int) -> Optional[Result]:
        """The round's result; ``None`` when its task failed (too few computing parties
        answered) or gave no result within ``result_wait``. Such a round is skipped, as Flower
        skips a round whose aggregation fails: the parameters stay as they were, the round is
        logged and recorded in :attr:`failed_rounds`, and training goes on. Other errors (a
        deployment that cannot be reached, a bad configuration) still stop the run."""
        try:
            return self.deployment.result(task, wait=self.result_wait)
        except (TaskFailedError, DsmpcTimeout) as e:
            log(WARNING, "dsmpc: round %s (task %s) gave no result; parameters unchanged: %s",
                current_round, task, e)  # fmt: skip
            self.failed_rounds.append(current_round)
            return None

    def _learn_dps(self, grid: Grid, node_ids: Sequence[int], current_round: int) -> None:
        """Asks the nodes not yet known which data provider they are."""
        unknown = [nid for nid in node_ids if nid not in self.dp_of_node]
        if not unknown:
            return
        messages = []
        for nid in unknown:
            content = RecordDict()
            content.config_records[RECORD] = ConfigRecord({"stage": "hello"})
            messages.append(Message(content=content, dst_node_id=nid,
                                    message_type=MessageType.QUERY,
                                    group_id=str(current_round)))  # fmt: skip
        for reply in grid.send_and_receive(messages):
            if reply.has_content() and RECORD in reply.content.config_records:
                dp = reply.content.config_records[RECORD].get("dp")
                if dp:
                    self.dp_of_node[reply.metadata.src_node_id] = str(dp)

    def _train(self, grid: Grid, instructions, listed: Dict[int, str], task: str,
               current_round: int) -> Dict[int, Message]:  # fmt: skip
        """Sends the training messages naming the task; the replies by node."""
        messages = []
        for proxy, fitins in instructions:
            if proxy.node_id not in listed:
                continue
            content = compat.fitins_to_recorddict(fitins, True)
            content.config_records[RECORD] = ConfigRecord({"task": task, "scale": self.scale})
            messages.append(Message(content=content, dst_node_id=proxy.node_id,
                                    message_type=MessageType.TRAIN,
                                    group_id=str(current_round)))  # fmt: skip
        return {m.metadata.src_node_id: m for m in grid.send_and_receive(messages)}

    def _set_parameters(self, context: LegacyContext, current_round: int, instructions,
                        stored: Sequence[int], arrays: List[np.ndarray],
                        listed: Dict[int, str]) -> None:  # fmt: skip
        """Hands the mean to the strategy as every included client's result (as Flower's
        SecAgg+ workflow does), so its ``aggregate_fit`` and history work unchanged."""
        proxies = {proxy.node_id: proxy for proxy, _ in instructions}
        included = set(self.last_result.included if self.last_result else ())
        parameters = ndarrays_to_parameters(arrays)
        results: List[Tuple[ClientProxy, FitRes]] = [
            (proxies[nid], FitRes(Status(Code.OK, ""), parameters, 1, {}))
            for nid in stored if listed.get(nid) in included
        ]  # fmt: skip
        failures: List[Union[Tuple[ClientProxy, FitRes], BaseException]] = [
            Exception(f"{listed[nid]} was not included") for nid in listed
            if listed[nid] not in included
        ]  # fmt: skip
        aggregated, metrics = context.strategy.aggregate_fit(current_round, results, failures)
        if aggregated is None:
            aggregated = parameters
        context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
            aggregated, True
        )
        context.history.add_metrics_distributed_fit(server_round=current_round, metrics=metrics)


def _stored(msg: Message, task: str) -> bool:
    """Whether the reply says dsmpc stored the client's update for ``task``."""
    if msg.has_error() or not msg.has_content() or RECORD not in msg.content.config_records:
        return False
    record = msg.content.config_records[RECORD]
    return bool(record.get("stored")) and record.get("task") == task
