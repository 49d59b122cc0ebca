"""A study's results directory: who may write it (a lock), what it holds (meta.json, the log of
finished points, the tidy table), and how each is read back even after a crash or a damaged disk."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import platform
import socket
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from .. import __version__
from ..errors import RecollectionError
from ..io import output_error, write_bytes, write_text
from .schema import Engine, StudyError

if TYPE_CHECKING:
    from .study import Study

LOG = "points.jsonl"
DAMAGED = "points.damaged"  # lines of the log that could not be read, kept for inspection
TABLE = "results.csv"
META = "meta.json"
STUDY_COPY = "study.toml"
ARTIFACTS = "artifacts"
LOCK = ".lock"

Notice = Callable[[str], None]


class PlanView(Protocol):
    """What :func:`write_meta` reads of a run's plan (a :class:`~recollection.experiments.runner.Plan`)."""

    @property
    def points(self) -> list[dict]: ...
    @property
    def grids(self) -> list[tuple[str, list[int]]]: ...
    @property
    def invalid(self) -> Sequence[Any]: ...
    @property
    def skip_invalid(self) -> bool: ...


class ResultsBusy(RecollectionError):
    """Another run holds the results directory."""


def warn(message: str) -> None:
    """The default notice: a Python warning (the CLI prints notices as one yellow line instead)."""
    warnings.warn(message, stacklevel=3)


def make_dirs(out: Path) -> None:
    try:
        (out / ARTIFACTS).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(out, e) from None


def check_results_dir(out: Path, study: Study) -> dict | None:
    """The directory's meta.json if it belongs to this study; an error if it belongs to another."""
    meta_path = out / META
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_bytes().decode("utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            raise StudyError(f"{out}: {META} is unreadable ({e}); remove the directory or choose another --out") from None
        theirs = meta.get("study", {})
        if {k: theirs.get(k) for k in ("name", "engine")} != study.identity:
            raise StudyError(
                f"{out}: holds results of study {theirs.get('name')!r} (engine {theirs.get('engine')}, file "
                f"{theirs.get('file')}), not of {study.name!r} from {study.path}; choose another --out")
        return meta
    if out.exists() and any(p.name not in (LOCK, ARTIFACTS) for p in out.iterdir()):
        raise StudyError(f"{out}: exists and is not a results directory of `recollect run` (no {META}); "
                         "choose another --out")
    return None


def write_meta(out: Path, study: Study, engine: Engine, plan: PlanView, overrides: list[str], backend: str, started: str,
               finished: str | None) -> None:
    """Everything needed to read the results back: the study, its grids, the points and the versions."""
    import numpy
    import torch

    points = plan.points
    meta = {
        "study": {"name": study.name, "engine": study.engine, "description": study.description,
                  "file": str(study.path), "overrides": overrides, "seed": study.seed, "repeats": study.repeats},
        "data": study.data,
        "params": [k for k in engine.params if k in points[0]] if points else [],
        "varying": study.varying(),
        "axes": list(engine.axes(study.data)),
        "metrics": list(engine.metrics),
        "metric_ranges": {k: list(v) for k, v in engine.metric_ranges.items()},
        "comparisons": [vars(c) for c in study.comparisons],
        "selections": [vars(s) for s in study.selections],
        "paper": study.paper,
        "points": [p["_hash"] for p in points],
        "grids": [{"label": label, "points": members} for label, members in plan.grids],
        "invalid": [vars(g) for g in plan.invalid] if plan.skip_invalid else [],
        "versions": {"recollection": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "numpy": numpy.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "backend": backend, "started": started, "finished": finished,
    }
    write_text(out / META, json.dumps(meta, indent=1, default=str) + "\n")


# --- the log of finished points -----------------------------------------------------------------
class ResultLog:
    """Append-only JSON lines, one finished point each. Reading skips (and counts in ``damaged``) any
    line that is not a complete point record: a line cut by a crash, bad bytes, an array, a number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.damaged: list[bytes] = []

    def read(self) -> dict[str, dict]:
        records: dict[str, dict] = {}
        self.damaged = []
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return records
        for line in blob.splitlines():
            if not line.strip():
                continue
            record = parse_record(line)
            if record is None:
                self.damaged.append(line)
            else:
                records[record["hash"]] = record  # the last record of a point wins (a retried failure)
        return records

    def warning(self) -> str | None:
        """One line about the damaged lines, if any."""
        n = len(self.damaged)
        if not n:
            return None
        return (f"{self.path}: skipped {n} damaged line{'s' if n > 1 else ''} (not a complete JSON record); "
                "their points count as not run and are recomputed by the next run")

    def compact(self, records: dict[str, dict]) -> None:
        """Rewrite the log without its damaged lines (kept in points.damaged), atomically."""
        if not self.damaged:
            return
        kept = b"".join(line + b"\n" for line in self.damaged)
        damaged_path = self.path.with_name(DAMAGED)
        previous = damaged_path.read_bytes() if damaged_path.exists() else b""
        write_bytes(damaged_path, previous + kept)
        write_bytes(self.path, "".join(json.dumps(r, default=str) + "\n" for r in records.values()).encode())
        self.damaged = []

    def append(self, records: list[dict]) -> None:
        """Add finished points; on a failed write (a full disk) the log is cut back to what it was."""
        blob = "".join(json.dumps(r, default=str) + "\n" for r in records).encode()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise output_error(self.path, e) from None
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                blob = b"\n" + blob  # after a line cut by a crash
            try:
                written = write_fd(fd, blob)
                if written != len(blob):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync(fd)
            except OSError as e:
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    pass
                raise output_error(self.path, e) from None
        finally:
            os.close(fd)


def write_fd(fd: int, blob: bytes) -> int:
    """``os.write``, in one place (tests inject a full disk here)."""
    return os.write(fd, blob)


def parse_record(line: bytes) -> dict | None:
    """A point record from one log line, or None if the line is not a complete, well-formed one."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not (isinstance(record, dict) and isinstance(record.get("hash"), str) and isinstance(record.get("params"), dict)
            and isinstance(record.get("metrics"), (dict, type(None))) and isinstance(record.get("error"), (str, type(None)))
            and (record["metrics"] is not None or record["error"] is not None)):
        return None
    return record


# --- the lock --------------------------------------------------------------------------------------
class ResultsLock:
    """An advisory lock on a results directory (``flock`` on ``.lock``, which names the holder's PID
    and host): a second run is refused with the holder's name; a lock left by a killed run is free
    (the kernel drops it with its process) and is taken over with a notice."""

    def __init__(self, folder: Path, notice: Notice = warn) -> None:
        self.path = Path(folder) / LOCK
        self.notice = notice
        self.fd: int | None = None

    def __enter__(self) -> "ResultsLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            self.notice(f"{self.path.parent}: file locks are not available here; do not start two runs on one directory")
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise output_error(self.path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = read_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise output_error(self.path, e) from None
            raise ResultsBusy(f"{self.path.parent}: in use by another `recollect run` ({describe(holder)}); wait for "
                              "it to finish, or choose another --out") from None
        previous = read_holder(fd)
        if previous:
            self.notice(f"{self.path.parent}: took over the lock left by {describe(previous)}, which is no longer "
                        "running (killed?)")
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        except OSError as e:
            os.close(fd)
            raise output_error(self.path, e) from None
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # an empty lock file: released cleanly (the file stays: no unlink race)
        except OSError:
            pass
        os.close(self.fd)  # closing drops the flock
        self.fd = None


def read_holder(fd: int) -> dict:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {"unreadable": True}
    return holder if isinstance(holder, dict) else {"unreadable": True}


def describe(holder: dict) -> str:
    if not holder or holder.get("unreadable"):
        return "holder unknown"
    return f"PID {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"


# --- the tidy table -----------------------------------------------------------------------------
def write_table(out: Path, params: list[str], metrics: list[str], hashes: list[str], records: dict[str, dict]) -> Path:
    """``results.csv``: one row per point of the study, every parameter and metric a column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["hash", *params, *metrics, "error", "seconds"])
    for h in hashes:
        r = records.get(h)
        if r is None:
            continue
        m = r["metrics"] or {}
        writer.writerow([h, *(fmt(r["params"].get(k)) for k in params), *(fmt(m.get(k)) for k in metrics),
                         r["error"] or "", r.get("seconds", "")])
    path = out / TABLE
    write_text(path, buffer.getvalue())
    return path


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
