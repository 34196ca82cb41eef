"""Type stubs of ``dsmpc._native``, the extension module (``python/src/lib.rs``).

Use the typed wrappers in ``dsmpc`` instead; these take the command line's own arguments.
"""

from os import PathLike
from typing import List, Union

__version__: str

class Error(Exception):
    """Every error dsmpc raises; the message is the command line's."""

class UsageError(Error):
    """Bad arguments: an unknown function, a missing or malformed option."""

class InputError(Error):
    """An input value was refused (NaN, infinite, too many places, outside the range)."""

class DeploymentError(Error):
    """The deployment directory or a key file could not be read."""

class RefusedError(Error):
    """A server refused the request."""

class TaskFailedError(Error):
    """The edge signed that the task failed."""

class TimeoutError(Error):
    """Waiting took longer than allowed."""

class NetworkError(Error):
    """A server could not be reached, or the connection failed."""

def cli(args: List[str]) -> int:
    """Run the ``dsmpc`` command line with ``args``; its exit status."""

def simulate(args: List[str]) -> str:
    """``dsmpc simulate ARGS --json``: the JSON it prints."""

def create_task(args: List[str]) -> str:
    """``dsmpc task create ARGS``: the new task's id."""

def submit(
    deployment: Union[str, PathLike[str]],
    id: str,
    task: str,
    data: bytes,
    kind: str,
    timeout: float,
) -> None:
    """Submit raw native-endian float64 (``kind="f8"``), float32 (``"f4"``) or int64
    (``"i8"``) values."""

def close_submissions(deployment: Union[str, PathLike[str]], task: str) -> None:
    """``dsmpc task close``: close the task's submissions now."""

def result(deployment: Union[str, PathLike[str]], id: str, task: str, wait: float) -> str:
    """``dsmpc result --json``: the JSON it prints."""
