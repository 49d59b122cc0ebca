"""`recollect cache info` and `recollect cache clear`: see and free what the feature cache holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import app, out, user_errors

cache_app = typer.Typer(help="See and clear the on-disk caches (extracted spiking-network features).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")

Root = Annotated[Optional[Path], typer.Option("--cache", help="Cache folder (default: $XDG_CACHE_HOME/recollection, "
                                              "i.e. ~/.cache/recollection; a naming command's --cache DIR works too).")]


@cache_app.command()
@user_errors
def info(cache: Root = None) -> None:
    """Where the cache is and how much each kind holds."""
    from ..cache import cache_root, human_size, summarise

    root = cache or cache_root()
    out.print(f"cache: {root}", highlight=False)
    found = summarise(root)
    if not found:
        out.print("empty")
        return
    for s in found:
        stale = f", {len(s.temporaries)} left-over temporary file(s)" if s.temporaries else ""
        out.print(f"{s.kind}: {len(s.entries)} entr{'y' if len(s.entries) == 1 else 'ies'}, {human_size(s.size)} "
                  f"in {s.folder}{stale}", highlight=False)
    out.print(f"total: {human_size(sum(s.size for s in found))}")


@cache_app.command()
@user_errors
def clear(
    cache: Root = None,
    older_than: Annotated[Optional[float], typer.Option(min=0, metavar="DAYS",
                                                        help="Only entries not written for DAYS days.")] = None,
) -> None:
    """Delete cached entries (they are rebuilt when next needed); other files are never touched."""
    from ..cache import cache_root, clear as clear_cache, human_size

    root = cache or cache_root()
    deleted, freed = clear_cache(root, older_than)
    out.print(f"deleted {deleted} file(s), {human_size(freed)}, from {root}", highlight=False)
