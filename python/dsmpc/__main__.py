"""``python -m dsmpc ARGS`` (and the ``dsmpc`` script pip installs): the whole command line."""

from __future__ import annotations

import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``dsmpc`` with ``argv`` (default: this process's arguments); return its status."""
    from . import cli

    return cli(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
