"""The ``recollect`` command line: one module per command group; commands parse, call one function, print."""

from __future__ import annotations

import sys

from rich.markup import escape

from ..errors import RecollectionError
# importing the command modules registers their commands, in the order `--help` lists them
from . import recollect  # noqa: F401,E402
from . import train  # noqa: F401,E402
from . import naming  # noqa: F401,E402
from . import naming_byod  # noqa: F401,E402
from . import attend  # noqa: F401,E402
from . import studies  # noqa: F401,E402
from . import dashboard  # noqa: F401,E402
from . import data  # noqa: F401,E402
from . import cache  # noqa: F401,E402
from .common import app, err

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: user errors become one red line and exit status 2, never a traceback."""
    try:
        app()
    except RecollectionError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
