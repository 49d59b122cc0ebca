"""What the on-disk caches hold, and clearing them: entries are recognised by name, so nothing
else in a folder (say ``--cache ~`` by mistake) is ever listed or deleted."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

# kind → (entry pattern, temporary pattern): temporaries are io.atomic_write's ".<name>.<random>.tmp"
KINDS = {"snn": ("snn-*.npz", ".snn-*.npz.*.tmp")}
STALE_TEMPORARY_S = 3600.0  # a temporary this old belongs to no running write: safe to delete


def cache_root() -> Path:
    """The folder every kind lives under: $XDG_CACHE_HOME/recollection (~/.cache/recollection)."""
    from .snn.features import default_cache

    return default_cache().parent


@dataclass
class KindSummary:
    kind: str
    folder: Path
    entries: list[Path] = field(default_factory=list)
    temporaries: list[Path] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(_size(p) for p in self.entries + self.temporaries)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # deleted meanwhile by another process
        return 0


def _age_s(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0


def kind_folders(root: str | os.PathLike) -> list[tuple[str, Path]]:
    """(kind, folder) pairs under ``root``; ``root`` itself counts too, for a ``--cache DIR`` given to
    the naming commands (entries directly in it)."""
    root = Path(root)
    return [(kind, folder) for kind in KINDS for folder in (root / kind, root) if folder.is_dir()]


def summarise(root: str | os.PathLike) -> list[KindSummary]:
    """Entries and left-over temporaries of each kind under ``root`` (kinds without any are left out)."""
    found = []
    for kind, folder in kind_folders(root):
        entry, temporary = KINDS[kind]
        summary = KindSummary(kind, folder, sorted(p for p in folder.glob(entry) if p.is_file()),
                              sorted(p for p in folder.glob(temporary) if p.is_file()))
        if summary.entries or summary.temporaries:
            found.append(summary)
    return found


def clear(root: str | os.PathLike, older_than_days: float | None = None) -> tuple[int, int]:
    """Delete the entries (only those older than ``older_than_days``, if given) and stale temporaries;
    returns (files deleted, bytes freed)."""
    now = time.time()
    deleted = freed = 0
    for summary in summarise(root):
        old_entries = [p for p in summary.entries
                       if older_than_days is None or _age_s(p, now) > older_than_days * 86400]
        stale = [p for p in summary.temporaries if _age_s(p, now) > STALE_TEMPORARY_S]
        for path in old_entries + stale:
            size = _size(path)
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as e:
                from .io import OutputError

                raise OutputError(f"cannot delete {path}: {e.strerror or e}") from None
            deleted += 1
            freed += size
    return deleted, freed


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""  # pragma: no cover
