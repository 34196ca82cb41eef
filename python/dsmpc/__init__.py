"""dsmpc: secure multi-party sums, weighted sums and means over private inputs.

Data providers split their inputs into encrypted, verifiable secret shares; computing parties
aggregate shares they cannot read; an edge reconstructs only the result, from any t of n
parties, and names any party that cheated.

This package is the Rust implementation (the ``dsmpc`` command line) compiled into Python:

* :func:`simulate` runs a whole task in this process and checks it against the plaintext;
* :class:`Deployment` is a directory made by ``dsmpc init``: create tasks as its operator, submit
  inputs as its data providers, read results from its edge;
* :class:`LocalCluster` starts a deployment's servers as child processes (for tests, examples
  and notebooks);
* :func:`cli` runs any ``dsmpc`` command (``python -m dsmpc ...`` does the same);
* :mod:`dsmpc.flower` plugs dsmpc into Flower as its secure aggregation.

Every error is a :class:`Error` subclass whose message is the command line's. Inputs are exact
fixed-point decimals: NaN, infinities, values with more decimal places than the task's scale and
values outside the task's range raise :class:`InputError`; nothing is ever clipped or rounded.
Every call releases the GIL while it works.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _native
from ._native import (
    DeploymentError,
    Error,
    InputError,
    NetworkError,
    RefusedError,
    TaskFailedError,
    TimeoutError,
    UsageError,
)
from .cluster import LocalCluster

__version__: str = _native.__version__

__all__ = [
    "Deployment",
    "DeploymentError",
    "Error",
    "InputError",
    "LocalCluster",
    "NetworkError",
    "RefusedError",
    "Result",
    "SimResult",
    "TaskFailedError",
    "TimeoutError",
    "UsageError",
    "cli",
    "decimal",
    "simulate",
]

Number = Union[int, float, str, "numbers.Real"]
PathLike = Union[str, "os.PathLike[str]"]


def cli(args: Sequence[str]) -> int:
    """Run the ``dsmpc`` command line with ``args`` (without the program name) in this process.

    Returns the exit status (0 on success, 1 on any error, which it prints to stderr). Servers
    (``cloud``, ``edge``, ``cp``) run until SIGINT or SIGTERM.
    """
    return _native.cli([str(a) for a in args])


def decimal(value: Number, what: str = "value") -> str:
    """``value`` as the decimal text dsmpc reads: an int as is, a float through its shortest
    round-trip text (``0.1`` is ``"0.1"``), a string unchanged. NaN and infinities raise
    :class:`InputError`."""
    if isinstance(value, (bool, np.bool_)):
        raise UsageError(f"{what}: {value!r} is a boolean, not a number")
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if not math.isfinite(x):
            raise InputError(f"{what}: {x} is not finite; only finite values can be summed")
        text = repr(x)
        if "e" in text or "E" in text:
            text = np.format_float_positional(x, unique=True, trim="-")
        return text[:-2] if text.endswith(".0") else text
    raise UsageError(f"{what}: {value!r} is not a number")


def _values_bytes(values: Any) -> "tuple[bytes, str]":
    """A DP's input as the native layer takes it: raw float64 or int64 elements, C order."""
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        if array.dtype.kind == "u" and array.size and int(array.max()) > np.iinfo(np.int64).max:
            raise InputError("an unsigned input exceeds the largest int64")
        return np.ascontiguousarray(array, dtype=np.int64).ravel().tobytes(), "i8"
    if array.dtype.kind == "b":
        raise InputError("boolean inputs are not numbers; convert them (e.g. .astype(int))")
    if array.dtype.kind == "f":
        if array.dtype.itemsize <= 4:
            # float32 (and float16, exactly widened): read through float32's own shortest text.
            return np.ascontiguousarray(array, dtype=np.float32).ravel().tobytes(), "f4"
        return np.ascontiguousarray(array, dtype=np.float64).ravel().tobytes(), "f8"
    raise InputError(
        f"inputs must be integers or floats, not {array.dtype} (e.g. a numpy float64 array)"
    )


def _values_of(exact: Sequence[str]) -> np.ndarray:
    return np.array([float(v) for v in exact], dtype=np.float64)


@dataclass(frozen=True)
class SimResult:
    """What :func:`simulate` found (the fields of ``dsmpc simulate --json``)."""

    match: bool
    """Whether the result equals the plaintext computation over the included DPs."""
    result: np.ndarray
    """The result as float64 (``result_exact`` holds the exact decimals)."""
    expected: np.ndarray
    """The plaintext result, float64."""
    result_exact: List[str]
    expected_exact: List[str]
    included: List[str]
    """Ids of the DPs the result includes (up to ``json_max``; ``included_count`` counts all)."""
    included_count: int
    excluded: List[str]
    culprits: List[str]
    """Parties named as cheating: CPs with a wrong result share, DPs with bad shares or proofs."""
    culprit_reasons: List[Dict[str, str]]
    bytes_per_dp: float
    phases: Dict[str, float]
    """Seconds per stage and per protocol phase."""
    task: str
    function: str
    mode: str
    field: str
    n: int
    t: int
    dps: int
    dim: int
    wall_s: float
    flow_log: str
    raw: Dict[str, Any] = dataclasses.field(repr=False)
    """The whole JSON object."""


def simulate(
    dps: int = 20,
    cps: int = 5,
    threshold: int = 3,
    dim: int = 1,
    func: str = "weighted-sum",
    mode: str = "verifiable",
    *,
    scale: Optional[int] = None,
    min: Optional[Number] = None,
    max: Optional[Number] = None,
    validate: Optional[bool] = None,
    inputs: Optional[PathLike] = None,
    drop_cps: int = 0,
    drop_dps: int = 0,
    cheat_cps: Sequence[str] = (),
    cheat_dps: Sequence[str] = (),
    out_of_range_dps: Sequence[str] = (),
    log_dir: Optional[PathLike] = None,
    json_max: int = 1000,
    extra: Sequence[str] = (),
) -> SimResult:
    """Run a whole task in this process — cloud, edge, ``cps`` computing parties and ``dps`` data
    providers over real TCP sockets, Noise channels and SQLite — and check it against the
    plaintext: ``dsmpc simulate`` as a function.

    ``func`` is ``sum``, ``weighted-sum``, ``mean`` or ``weighted-mean``; ``mode`` is
    ``verifiable`` or ``fast``. Logs and the flow log go to ``log_dir`` (a new temporary directory
    by default). ``extra`` passes further ``dsmpc simulate`` options as they are spelt there.
    A result that differs from the plaintext is ``match=False``, not an error.
    """
    args = [
        "--dps", str(dps), "--cps", str(cps), "--threshold", str(threshold),
        "--dim", str(dim), "--func", str(func), "--mode", str(mode),
        "--json-max", str(json_max), "--drop-cps", str(drop_cps), "--drop-dps", str(drop_dps),
    ]  # fmt: skip
    if scale is not None:
        args += ["--scale", str(scale)]
    if min is not None:
        args += ["--min", decimal(min, "min")]
    if max is not None:
        args += ["--max", decimal(max, "max")]
    if validate is not None:
        args.append("--validate" if validate else "--no-validate")
    if inputs is not None:
        args += ["--inputs", os.fspath(inputs)]
    for flag, ids in (("--cheat-cp", cheat_cps), ("--cheat-dp", cheat_dps),
                      ("--out-of-range-dp", out_of_range_dps)):  # fmt: skip
        for party in ids:
            args += [flag, str(party)]
    if log_dir is None:
        log_dir = tempfile.mkdtemp(prefix="dsmpc-simulate-")
    args += ["--log-dir", os.fspath(log_dir), *map(str, extra)]
    raw = json.loads(_native.simulate(args))
    return SimResult(
        match=bool(raw["match"]),
        result=_values_of(raw["result"]),
        expected=_values_of(raw["expected"]),
        result_exact=list(raw["result"]),
        expected_exact=list(raw["expected"]),
        included=list(raw["included"]),
        included_count=int(raw["included_count"]),
        excluded=list(raw["excluded"]),
        culprits=list(raw["culprits"]),
        culprit_reasons=list(raw["culprit_reasons"]),
        bytes_per_dp=float(raw["bytes_per_dp"]),
        phases={k: float(v) for k, v in raw["phases"].items()},
        task=raw["task"],
        function=raw["function"],
        mode=raw["mode"],
        field=raw["field"],
        n=int(raw["n"]),
        t=int(raw["t"]),
        dps=int(raw["dps"]),
        dim=int(raw["dim"]),
        wall_s=float(raw["wall_s"]),
        flow_log=raw["flow_log"],
        raw=raw,
    )


@dataclass(frozen=True)
class Result:
    """A task's result, as the edge signed it (the fields of ``dsmpc result --json``)."""

    task: str
    function: str
    values: np.ndarray
    """The result as float64; ``exact`` holds it exactly."""
    exact: List[str]
    """The result as exact decimal strings."""
    included: List[str]
    """Ids of the DPs whose inputs it includes."""
    excluded: List[str]
    """Ids of the task's DPs it leaves out (did not submit, or were excluded as culprits)."""
    culprits: List[str]
    culprit_reasons: List[Dict[str, str]]


class Deployment:
    """A deployment directory made by ``dsmpc init`` (roster, defaults, keys).

    Each method acts as one party of it, with that party's key from ``keys/``: the operator
    (the cloud's key) creates tasks, data providers submit, anyone with a server's key reads
    results. The servers must be running (``dsmpc cloud``, ``dsmpc edge``, ``dsmpc cp``, or a
    :class:`LocalCluster`).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        if not (self.path / "roster.toml").is_file():
            raise DeploymentError(
                f"{self.path} is not a deployment directory (no roster.toml); make one with "
                "`dsmpc init DIR`"
            )

    def __repr__(self) -> str:
        return f"Deployment({str(self.path)!r})"

    def create_task(
        self,
        func: str = "sum",
        dim: int = 1,
        min: Number = 0,
        max: Number = 1,
        scale: int = 0,
        deadline: Optional[int] = None,
        *,
        dps: Optional[Sequence[str]] = None,
        weights: Optional[Mapping[str, Number]] = None,
        weight_scale: int = 0,
        cps: Optional[int] = None,
        threshold: Optional[int] = None,
        mode: Optional[str] = None,
        validate: Optional[bool] = None,
        timeout: Optional[int] = None,
    ) -> str:
        """Create a task as the deployment's operator and return its id once its committee is
        admitted (``dsmpc task create``).

        Inputs are decimals with ``scale`` places in ``[min, max]``. ``deadline`` is the seconds
        until the input set closes (the deployment's default if None); ``timeout`` the seconds
        allowed to admit the committee. ``dps`` lists the data providers (default: every DP
        registered with the cloud); ``weights`` maps DP ids to public weights for the weighted
        functions.
        """
        args = [
            "--deployment", str(self.path), "--func", str(func), "--dim", str(dim),
            "--min", decimal(min, "min"), "--max", decimal(max, "max"), "--scale", str(scale),
        ]  # fmt: skip
        if deadline is not None:
            args += ["--deadline", str(deadline)]
        if timeout is not None:
            args += ["--timeout", str(timeout)]
        if cps is not None:
            args += ["--cps", str(cps)]
        if threshold is not None:
            args += ["--threshold", str(threshold)]
        if mode is not None:
            args += ["--mode", str(mode)]
        if validate is not None:
            args.append("--validate" if validate else "--no-validate")
        if dps is not None:
            if isinstance(dps, str):
                raise UsageError("dps: give a list of ids, not one string")
            args += ["--dps", ",".join(dps)]
        if weights is None:
            return _native.create_task(args)
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write("id,weight\n")
            for party, w in weights.items():
                f.write(f"{party},{decimal(w, f'weight of {party}')}\n")
        try:
            args += ["--weights", f.name, "--weight-scale", str(weight_scale)]
            return _native.create_task(args)
        finally:
            os.unlink(f.name)

    def submit(self, dp: str, task: str, values: Any, timeout: float = 60) -> None:
        """Share, seal, sign and upload ``values`` (a scalar, a sequence or a numpy array of
        ints or floats, flattened in C order) as data provider ``dp`` to ``task``; return once
        the cloud has durably stored the bundle (``dsmpc dp``).

        Floats are read through their shortest round-trip decimal text (float32 through
        float32's: ``np.float32(0.1)`` is 0.1), at the task's scale:
        NaN, infinities, more decimal places than the scale and values outside the task's range
        raise :class:`InputError` (round first, e.g. ``np.round(x, scale)``, to quantise).
        """
        data, kind = _values_bytes(values)
        _native.submit(str(self.path), str(dp), str(task), data, kind, float(timeout))

    def close(self, task: str) -> None:
        """Close ``task``'s submissions now instead of at its deadline, as the operator
        (``dsmpc task close``): DPs that have not submitted are left out of the result, as at
        the deadline. Returns once the close is durable (at once if already closed)."""
        _native.close_submissions(str(self.path), str(task))

    def result(self, task: str, wait: float = 0, as_party: str = "cloud") -> Result:
        """The result of ``task``, waiting up to ``wait`` seconds for the edge to reconstruct it
        (``dsmpc result``), connecting with the keys of ``as_party`` (any server of the roster).

        Raises :class:`TaskFailedError` if the edge signed that the task failed, and
        :class:`TimeoutError` if ``wait`` passes first.
        """
        raw = json.loads(_native.result(str(self.path), str(as_party), str(task), float(wait)))
        return Result(
            task=raw["task"],
            function=raw["function"],
            values=_values_of(raw["result"]),
            exact=list(raw["result"]),
            included=list(raw["included"]),
            excluded=list(raw["excluded"]),
            culprits=list(raw["culprits"]),
            culprit_reasons=list(raw["culprit_reasons"]),
        )
