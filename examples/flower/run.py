"""FedAvg three ways on scikit-learn's digits: in the clear, with Flower's SecAgg+, with dsmpc.

A multinomial logistic-regression model (64 pixels → 10 classes, 650 parameters) is trained by
``--clients`` simulated Flower clients, each holding a shard of the training images, for
``--rounds`` rounds of FedAvg (weighted by each client's number of examples). The same clients,
data and initial model run:

1. plain FedAvg (the server sees every update);
2. FedAvg with Flower's ``SecAggPlusWorkflow`` / ``secaggplus_mod``;
3. FedAvg with dsmpc (``dsmpc.flower``): each client's ``[n·x, n]`` is secret-shared among the
   computing parties of a dsmpc deployment started here (``dsmpc.LocalCluster``); the server reads
   only the sum and divides.

Prints accuracy and seconds per round for each; with ``--json`` the last line is one JSON object
with ``max_abs_diff_vs_fedavg`` (dsmpc's global parameters against plain FedAvg's),
``dsmpc_s_per_round``, ``secaggplus_s_per_round``, ``fedavg_s_per_round`` and the accuracies.
``--drop K`` makes the last K clients fail from round 2 on (dropouts).

    pip install ./python -r examples/flower/requirements.txt
    python examples/flower/run.py --clients 10 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import flwr
from flwr.client import NumPyClient
from flwr.client import ClientApp
from flwr.client.mod import secaggplus_mod
from flwr.common import Context, ndarrays_to_parameters
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.default_workflows import default_fit_workflow
from flwr.serverapp import ServerApp
from flwr.simulation import run_simulation

import dsmpc
from dsmpc.flower import DsmpcFedAvgWorkflow, make_dsmpc_mod

CLASSES = 10
FEATURES = 64


def data(clients: int, seed: int):
    """The digits, scaled to [0, 1], split into a test set and one training shard per client."""
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    order = np.random.default_rng(seed).permutation(len(x_train))
    shards = np.array_split(order, clients)
    return [(x_train[s], y_train[s]) for s in shards], (x_test, y_test)


def initial_parameters() -> List[np.ndarray]:
    return [np.zeros((FEATURES, CLASSES)), np.zeros(CLASSES)]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train(params: List[np.ndarray], x, y, epochs: int, lr: float) -> List[np.ndarray]:
    """Full-batch gradient descent on the cross-entropy (deterministic)."""
    w, b = params[0].copy(), params[1].copy()
    onehot = np.eye(CLASSES)[y]
    for _ in range(epochs):
        grad = softmax(x @ w + b) - onehot
        w -= lr * (x.T @ grad) / len(x)
        b -= lr * grad.mean(axis=0)
    return [w, b]


def accuracy(params: List[np.ndarray], x, y) -> float:
    return float(((x @ params[0] + params[1]).argmax(axis=1) == y).mean())


class DigitsClient(NumPyClient):
    def __init__(self, shard, epochs: int, lr: float, fail: bool) -> None:
        self.x, self.y = shard
        self.epochs, self.lr, self.fail = epochs, lr, fail

    def fit(self, parameters, config):
        if self.fail and int(config.get("round", 1)) >= 2:
            raise RuntimeError("this client drops out")
        return train(parameters, self.x, self.y, self.epochs, self.lr), len(self.x), {}


def client_app(shards, args, mods) -> ClientApp:
    def client_fn(context: Context):
        pid = int(context.node_config["partition-id"])
        fail = pid >= args.clients - args.drop
        return DigitsClient(shards[pid], args.epochs, args.lr, fail).to_client()

    return ClientApp(client_fn=client_fn, mods=mods)


class Timed:
    """A fit workflow that times each call of the one it wraps."""

    def __init__(self, inner: Callable) -> None:
        self.inner, self.seconds = inner, []

    def __call__(self, grid, context) -> None:
        started = time.monotonic()
        self.inner(grid, context)
        self.seconds.append(time.monotonic() - started)


def server_app(args, test, fit_workflow, trace: Dict[str, object]) -> ServerApp:
    app = ServerApp()

    def evaluate(server_round, ndarrays, config):
        trace["params"] = [a.copy() for a in ndarrays]
        trace["accuracy"] = accuracy(ndarrays, *test)
        return 0.0, {"accuracy": trace["accuracy"]}

    @app.main()
    def main(grid, context: Context) -> None:
        strategy = FedAvg(
            fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=args.clients,
            min_available_clients=args.clients, evaluate_fn=evaluate,
            on_fit_config_fn=lambda r: {"round": r},
            initial_parameters=ndarrays_to_parameters(initial_parameters()),
        )  # fmt: skip
        legacy = LegacyContext(
            context=context, config=ServerConfig(num_rounds=args.rounds), strategy=strategy
        )
        DefaultWorkflow(fit_workflow=fit_workflow)(grid, legacy)

    return app


def simulate(name: str, args, shards, test, fit_workflow, mods) -> Dict[str, object]:
    trace: Dict[str, object] = {}
    timed = Timed(fit_workflow)
    print(f"== {name}: {args.clients} clients, {args.rounds} rounds", file=sys.stderr, flush=True)
    run_simulation(
        server_app=server_app(args, test, timed, trace),
        client_app=client_app(shards, args, mods),
        num_supernodes=args.clients,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"num_cpus": args.cpus, "include_dashboard": False,
                          "logging_level": logging.ERROR, "log_to_driver": False},
        },  # fmt: skip
    )
    if "params" not in trace:
        raise SystemExit(f"{name}: the simulation ended without global parameters")
    # The first round also starts Ray's actors: rounds after it are the steady state.
    steady = timed.seconds[1:] or timed.seconds
    trace["s_per_round"] = statistics.median(steady) if steady else float("nan")
    trace["round_seconds"] = timed.seconds
    print(f"   accuracy {trace['accuracy']:.4f}, {trace['s_per_round']:.3f} s per round "
          f"(median of rounds 2..{len(timed.seconds)})", file=sys.stderr, flush=True)  # fmt: skip
    return trace


def run_dsmpc(args, shards, test, out: Dict[str, object]) -> Dict[str, object]:
    """FedAvg with dsmpc, against a deployment of ``--cps`` computing parties started here."""
    with tempfile.TemporaryDirectory(prefix="dsmpc-flower-") as tmp:
        with dsmpc.LocalCluster(cps=args.cps, dps=args.clients, threshold=args.threshold,
                                directory=tmp) as cluster:  # fmt: skip
            path = str(cluster.deployment.path)
            workflow = DsmpcFedAvgWorkflow(path, scale=args.scale, mode=args.mode)
            trace = simulate("FedAvg + dsmpc", args, shards, test, workflow, [make_dsmpc_mod(path)])
            if workflow.last_result is not None:
                out["dsmpc_last_round"] = {
                    "included": len(workflow.last_result.included),
                    "excluded": workflow.last_result.excluded,
                    "culprits": workflow.last_result.culprits,
                }
            return trace


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="local gradient steps per round")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--drop", type=int, default=0, help="clients failing from round 2")
    parser.add_argument("--cps", type=int, default=5, help="dsmpc computing parties")
    parser.add_argument("--threshold", type=int, default=3)
    parser.add_argument("--mode", choices=["verifiable", "fast"], default="verifiable")
    parser.add_argument("--scale", type=int, default=8, help="decimal places dsmpc keeps")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["fedavg", "secaggplus", "dsmpc"], action="append",
                        help="run only these, in this order (repeatable; default: all three)")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    args = parser.parse_args(argv)
    if not 0 <= args.drop < args.clients:
        parser.error("--drop must be at least 0 and below --clients")
    logging.getLogger("flwr").setLevel(logging.WARNING)
    shards, test = data(args.clients, args.seed)
    runs = list(dict.fromkeys(args.only or ["fedavg", "secaggplus", "dsmpc"]))
    out: Dict[str, object] = {
        "clients": args.clients, "rounds": args.rounds, "drop": args.drop,
        "parameters": FEATURES * CLASSES + CLASSES, "dsmpc_mode": args.mode,
        "flwr": flwr.__version__, "dsmpc": dsmpc.__version__,
    }  # fmt: skip
    traces: Dict[str, Dict[str, object]] = {}
    for run in runs:  # in the order given: --only dsmpc --only secaggplus swaps the two
        if run == "fedavg":
            traces[run] = simulate("plain FedAvg", args, shards, test, default_fit_workflow, [])
        elif run == "secaggplus":
            shares = min(args.clients, 5)
            secagg = SecAggPlusWorkflow(num_shares=shares, reconstruction_threshold=min(3, shares))
            traces[run] = simulate(
                "FedAvg + Flower SecAgg+", args, shards, test, secagg, [secaggplus_mod]
            )
        else:
            traces[run] = run_dsmpc(args, shards, test, out)
    for name, trace in traces.items():
        out[f"{name}_accuracy"] = trace["accuracy"]
        out[f"{name}_s_per_round"] = trace["s_per_round"]
        out[f"{name}_round_seconds"] = trace["round_seconds"]
    if "fedavg" in traces:
        base = traces["fedavg"]["params"]
        for name in ("dsmpc", "secaggplus"):
            if name in traces:
                diff = max(float(np.max(np.abs(a - b)))
                           for a, b in zip(traces[name]["params"], base))  # fmt: skip
                key = "max_abs_diff_vs_fedavg" if name == "dsmpc" else f"{name}_max_abs_diff_vs_fedavg"
                out[key] = diff
    if "dsmpc_s_per_round" in out and "secaggplus_s_per_round" in out:
        out["dsmpc_vs_secaggplus_time_ratio"] = out["dsmpc_s_per_round"] / out["secaggplus_s_per_round"]
    for key in ("max_abs_diff_vs_fedavg", "secaggplus_max_abs_diff_vs_fedavg",
                "dsmpc_vs_secaggplus_time_ratio"):  # fmt: skip
        if key in out:
            print(f"{key}: {out[key]:.3g}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
