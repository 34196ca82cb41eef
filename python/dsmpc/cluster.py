"""A deployment's servers — cloud, edge, computing parties — as child processes of this one.

For tests, examples and notebooks: :class:`LocalCluster` makes a deployment with ``dsmpc init``
on free loopback ports, starts each server as ``python -m dsmpc ROLE ...`` (the command line this
package carries, so nothing else need be installed), waits until each accepts connections, and
stops them all on :meth:`LocalCluster.stop` or when the ``with`` block ends. A production
deployment runs the same commands on separate hosts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]


def _free_port_block(count: int) -> int:
    """A base port with ``count`` consecutive free loopback ports above it (best effort)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count >= 65535:
            continue
        if all(_is_free(base + i) for i in range(count)):
            return base
    raise _native.Error(f"no block of {count} free loopback ports found")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalCluster:
    """A deployment with its servers running as child processes on this machine.

    >>> with LocalCluster(cps=3, dps=5, threshold=2) as cluster:
    ...     dep = cluster.deployment
    ...     task = dep.create_task(func="sum", min=0, max=10, deadline=10)
    ...     for i in range(1, 6):
    ...         dep.submit(f"dp{i}", task, [i])
    ...     dep.result(task, wait=30).values
    array([15.])

    ``directory`` holds the deployment (``dep/``) and one log per server; a temporary directory
    is made (and removed on :meth:`stop`) if none is given. ``cloud_args``, ``edge_args`` and
    ``cp_args`` add options to those servers' command lines.
    """

    def __init__(
        self,
        cps: int = 3,
        dps: int = 5,
        threshold: int = 2,
        directory: Optional[PathLike] = None,
        *,
        cloud_args: Sequence[str] = (),
        edge_args: Sequence[str] = ("--grace", "1"),
        cp_args: Sequence[str] = (),
        start: bool = True,
        ready_timeout: float = 30.0,
    ) -> None:
        from . import Deployment  # the package imports this module first

        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dsmpc-cluster-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cps, self.dps, self.threshold = cps, dps, threshold
        self.base_port = _free_port_block(cps + 2)
        dep = self.directory / "dep"
        init = subprocess.run(
            [sys.executable, "-m", "dsmpc", "init", str(dep), "--cps", str(cps), "--dps",
             str(dps), "--threshold", str(threshold), "--base-port", str(self.base_port),
             "--force"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )  # fmt: skip
        if init.returncode != 0:
            raise _native.DeploymentError(f"dsmpc init {dep}: {init.stderr.strip()}")
        self.deployment = Deployment(dep)
        self._args = {"cloud": list(cloud_args), "edge": list(edge_args), "cp": list(cp_args)}
        self.processes: Dict[str, subprocess.Popen] = {}
        self.ready_timeout = ready_timeout
        if start:
            self.start()

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass

    def roles(self) -> List[str]:
        """The servers' names: ``cloud``, ``edge``, ``cp1`` … ``cpN``."""
        return ["cloud", "edge"] + [f"cp{i}" for i in range(1, self.cps + 1)]

    def port(self, role: str) -> int:
        """The loopback port of ``role`` in the roster (``dsmpc init``'s layout; CPs only
        connect out)."""
        if role == "cloud":
            return self.base_port
        if role == "edge":
            return self.base_port + 1
        return self.base_port + 1 + int(role[2:])

    def log(self, role: str) -> Path:
        """The file ``role``'s stderr (its log) goes to."""
        return self.directory / f"{role}.log"

    def start(self, roles: Optional[Sequence[str]] = None) -> None:
        """Start ``roles`` (default: every server) and wait until each accepts connections."""
        for role in roles or self.roles():
            self._spawn(role)
        for role in roles or self.roles():
            self._wait_ready(role)

    def _command(self, role: str) -> List[str]:
        base = [sys.executable, "-m", "dsmpc"]
        dep = ["--deployment", str(self.deployment.path)]
        if role in ("cloud", "edge"):
            return base + [role, *dep, *self._args[role]]
        return base + ["cp", "--id", role, *dep, *self._args["cp"]]

    def _spawn(self, role: str) -> None:
        if role in self.processes and self.processes[role].poll() is None:
            return
        with open(self.log(role), "ab") as log:
            self.processes[role] = subprocess.Popen(
                self._command(role),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
            )

    def _wait_ready(self, role: str) -> None:
        """Until the cloud or edge accepts connections; until a CP (which only connects out)
        logs that it runs."""
        deadline = time.monotonic() + self.ready_timeout
        process = self.processes[role]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise _native.Error(
                    f"{role} exited with status {process.returncode}:\n{self.tail(role)}"
                )
            if role.startswith("cp"):
                if "cp running" in self.tail(role, 1000):
                    return
                time.sleep(0.05)
                continue
            try:
                with socket.create_connection(("127.0.0.1", self.port(role)), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise _native.TimeoutError(
            f"{role} did not accept connections within {self.ready_timeout} s:\n{self.tail(role)}"
        )

    def tail(self, role: str, lines: int = 20) -> str:
        """The last ``lines`` lines of ``role``'s log."""
        try:
            return "\n".join(self.log(role).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self, role: str) -> None:
        """SIGKILL ``role`` (to test what survives a crash)."""
        process = self.processes.pop(role, None)
        if process is not None:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """SIGTERM every server, wait for it (SIGKILL after 10 s), remove a temporary directory."""
        processes, self.processes = getattr(self, "processes", {}), {}
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        tmp, self._tmp = getattr(self, "_tmp", None), None
        if tmp is not None:
            tmp.cleanup()
