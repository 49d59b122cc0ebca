"""Run a study's points, in parallel on local processes or on a Ray cluster, resumably.

Every point has a content hash of its configuration. Finished points are appended, one JSON line
each, to ``points.jsonl`` as soon as their unit returns, so a killed run loses at most the units in
flight, and a rerun skips every point already done (failed points are retried).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
import traceback
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from .. import __version__
from ..io import write_text
from ..errors import RecollectionError
from .engines import get_engine
from .schema import Engine, StudyError
from .study import Study, point_hash

LOG = "points.jsonl"
TABLE = "results.csv"
META = "meta.json"
STUDY_COPY = "study.toml"
ARTIFACTS = "artifacts"
RESULT_NEUTRAL_DATA = ("device", "cache", "gallery")  # settings that cannot change a result


@dataclass
class RunSummary:
    out: Path
    total: int
    skipped: int
    done: int = 0
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    backend: str = "local"


def hashed_points(study: Study) -> list[dict]:
    data = {k: v for k, v in study.data.items() if k not in RESULT_NEUTRAL_DATA}
    return [{**p, "_hash": point_hash(study.engine, data, p)} for p in study.points]


# --- the results directory ---------------------------------------------------------------------
def check_results_dir(out: Path, study: Study) -> dict | None:
    """The directory's meta.json if it belongs to this study; an error if it belongs to another."""
    meta_path = out / META
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise StudyError(f"{out}: {META} is unreadable ({e}); remove the directory or choose another --out") from None
        theirs = meta.get("study", {})
        if {k: theirs.get(k) for k in ("name", "engine")} != study.identity:
            raise StudyError(
                f"{out}: holds results of study {theirs.get('name')!r} (engine {theirs.get('engine')}, file "
                f"{theirs.get('file')}), not of {study.name!r} from {study.path}; choose another --out")
        return meta
    if out.exists() and any(out.iterdir()):
        raise StudyError(f"{out}: exists and is not a results directory of `recollect run` (no {META}); "
                         "choose another --out")
    return None


def write_atomic(path: Path, text: str) -> None:
    write_text(path, text)


def write_meta(out: Path, study: Study, points: list[dict], overrides: list[str], backend: str,
               started: str, finished: str | None) -> None:
    engine = get_engine(study.engine)
    import numpy
    import torch

    meta = {
        "study": {"name": study.name, "engine": study.engine, "description": study.description,
                  "file": str(study.path), "overrides": overrides, "seed": study.seed, "repeats": study.repeats},
        "data": study.data,
        "params": [k for k in engine.params if k in points[0]],
        "varying": study.varying(),
        "metrics": list(engine.metrics),
        "comparisons": [asdict(c) for c in study.comparisons],
        "selections": [asdict(s) for s in study.selections],
        "paper": study.paper,
        "points": [p["_hash"] for p in points],
        "versions": {"recollection": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "numpy": numpy.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "backend": backend, "started": started, "finished": finished,
    }
    write_atomic(out / META, json.dumps(meta, indent=1, default=str) + "\n")


class ResultLog:
    """Append-only JSON lines; a line cut short by a crash is ignored on reading."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, dict]:
        records: dict[str, dict] = {}
        if not self.path.exists():
            return records
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a partial last line from a killed run
                records[record["hash"]] = record
        return records

    def append(self, records: list[dict]) -> None:
        blob = "".join(json.dumps(r, default=str) + "\n" for r in records).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not self._ends_with_newline():
                blob = b"\n" + blob
            os.write(fd, blob)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"


# --- running units --------------------------------------------------------------------------------
def run_unit_safely(engine_name: str, data: dict, points: list[dict], artifacts: str | None) -> list[dict]:
    """Run one unit in a worker; a failing point is recorded with its error, the others still run."""
    import torch

    torch.set_num_threads(1)  # one thread per worker: the same numbers on any backend
    engine = get_engine(engine_name)
    folder = Path(artifacts) if artifacts else None
    start = time.perf_counter()
    try:
        results = engine.run_unit(data, points, folder)
        seconds = (time.perf_counter() - start) / len(points)
        return [record(p, r, None, seconds) for p, r in zip(points, results)]
    except Exception:
        if len(points) == 1:
            return [record(points[0], None, error_text(), time.perf_counter() - start)]
    out = []
    for p in points:  # isolate the failing point(s)
        out += run_unit_safely(engine_name, data, [p], artifacts)
    return out


def error_text() -> str:
    kind, value, _ = sys.exc_info()
    if isinstance(value, RecollectionError):
        return f"{kind.__name__}: {value}"
    last = traceback.extract_tb(sys.exc_info()[2])[-1]
    return f"{kind.__name__}: {value} (at {Path(last.filename).name}:{last.lineno})"


def record(p: dict, metrics: dict | None, error: str | None, seconds: float) -> dict:
    return {"hash": p["_hash"], "params": {k: v for k, v in p.items() if k != "_hash"}, "metrics": metrics,
            "error": error, "seconds": round(seconds, 6)}


def make_units(engine: Engine, points: list[dict], workers: int) -> list[list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for p in points:
        groups[engine.unit_key(p)].append(p)
    few = engine.split_groups and len(groups) < 2 * workers  # too few groups to keep the workers busy: split
    units = []
    for group in groups.values():
        size = max(1, min(engine.unit_size, -(-len(group) // (2 * workers)))) if few else engine.unit_size
        units += [group[i : i + size] for i in range(0, len(group), size)]
    return units


def run_local(engine: Engine, data: dict, units: list[list[dict]], artifacts: str, workers: int) -> Iterator[list[dict]]:
    if workers <= 1:
        import torch

        threads = torch.get_num_threads()
        try:
            for unit in units:
                yield run_unit_safely(engine.name, data, unit, artifacts)
        finally:
            torch.set_num_threads(threads)
        return
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = {pool.submit(run_unit_safely, engine.name, data, unit, artifacts) for unit in units}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def connect_ray(address: str, workers: int | None):
    """Start a local Ray (``local``), join a running one (``auto``), or reach ``HOST:PORT`` / ``ray://…``."""
    try:
        import ray
    except ImportError:
        raise RecollectionError("Ray is not installed: pip install 'recollection[ray]' (or pip install ray)") from None
    if address not in ("local", "auto"):
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdecimal():
            raise RecollectionError(f"--ray {address!r}: expected local, auto, HOST:PORT or ray://HOST:PORT")
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
        except OSError as e:
            raise RecollectionError(f"--ray {address}: cannot reach a Ray cluster there ({e.strerror or e}); start one "
                                    "with `ray start --head`, or use --ray local") from None
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR", ignore_reinit_error=True)
    try:
        if address == "local":
            ray.init(num_cpus=workers or os.cpu_count(), **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RecollectionError(f"--ray {address}: could not connect ({str(e).splitlines()[0]}); start a cluster with "
                                "`ray start --head`, or use --ray local") from None
    return ray


def run_ray(engine: Engine, data: dict, units: list[list[dict]], artifacts: str, address: str,
            workers: int | None) -> Iterator[list[dict]]:
    ray = connect_ray(address, workers)
    try:
        remote = ray.remote(num_cpus=1)(run_unit_safely)
        pending = [remote.remote(engine.name, data, unit, artifacts) for unit in units]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        ray.shutdown()


# --- the tidy table -----------------------------------------------------------------------------
def write_table(out: Path, params: list[str], metrics: list[str], hashes: list[str], records: dict[str, dict]) -> Path:
    """``results.csv``: one row per point of the study, every parameter and metric a column."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["hash", *params, *metrics, "error", "seconds"])
    for h in hashes:
        r = records.get(h)
        if r is None:
            continue
        m = r["metrics"] or {}
        writer.writerow([h, *(fmt(r["params"].get(k)) for k in params), *(fmt(m.get(k)) for k in metrics),
                         r["error"] or "", r["seconds"]])
    path = out / TABLE
    write_atomic(path, buffer.getvalue())
    return path


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


# --- the whole run ------------------------------------------------------------------------------
def run_study(study: Study, out: str | os.PathLike, *, workers: int | None = None, ray: str | None = None,
              overrides: list[str] | None = None, progress: Callable | None = None,
              on_start: Callable[[int, int], None] | None = None) -> RunSummary:
    """Run every point not yet done; ``progress(n)`` is called as points finish."""
    out = Path(out)
    check_results_dir(out, study)
    out.mkdir(parents=True, exist_ok=True)
    (out / ARTIFACTS).mkdir(exist_ok=True)
    engine = get_engine(study.engine)
    points = hashed_points(study)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    backend = f"ray:{ray}" if ray else "local"
    write_atomic(out / STUDY_COPY, study.text)
    write_meta(out, study, points, overrides or [], backend, started, None)
    log = ResultLog(out / LOG)
    records = log.read()
    pending = [p for p in points if p["_hash"] not in records or records[p["_hash"]]["error"]]
    summary = RunSummary(out, len(points), len(points) - len(pending), backend=backend)
    if on_start:
        on_start(len(points), len(pending))
    clock = time.perf_counter()
    if pending:
        engine.prepare(study.data, pending)
        workers = workers or os.cpu_count() or 1
        units = make_units(engine, pending, workers)
        artifacts = str(out / ARTIFACTS)
        stream = (run_ray(engine, study.data, units, artifacts, ray, workers) if ray
                  else run_local(engine, study.data, units, artifacts, workers))
        for results in stream:
            log.append(results)
            for r in results:
                records[r["hash"]] = r
            summary.done += len(results)
            if progress:
                progress(len(results))
    summary.seconds = time.perf_counter() - clock
    engine.finalize(study.data, points, out / ARTIFACTS)
    hashes = [p["_hash"] for p in points]
    write_table(out, [k for k in engine.params if k in points[0]], list(engine.metrics), hashes, records)
    summary.failures = [records[h] for h in hashes if h in records and records[h]["error"]]
    write_meta(out, study, points, overrides or [], backend, started,
               datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return summary
