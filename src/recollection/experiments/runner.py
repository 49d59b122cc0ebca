"""Run a study's points, in parallel on local processes or on a Ray cluster, resumably.

Before anything runs, every point is checked against its engine (a source the model does not have,
a class out of range): the run stops with one line naming those cells, or leaves them out with
``skip_invalid``. One run at a time holds the results directory (an advisory lock). Every point has
a content hash of its configuration; finished points are appended, one JSON line each, to
``points.jsonl`` as soon as their unit returns, so a killed run loses at most the units in flight,
and a rerun skips every point already done (failed points are retried). Worker processes die with
the run, however it ends.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Callable, Iterator

from ..io import write_text
from .engines import get_engine
from .results_dir import (ARTIFACTS, LOG, META, STUDY_COPY, TABLE, Notice, ResultLog, ResultsBusy, ResultsLock,
                          check_results_dir, make_dirs, warn, write_meta, write_table)
from .schema import Engine, StudyError
from .study import Study, point_hash
from .workers import connect_ray, make_units, run_local, run_ray

__all__ = ["ARTIFACTS", "LOG", "META", "STUDY_COPY", "TABLE", "Interrupted", "InvalidPoints", "Plan", "ResultLog",
           "ResultsBusy", "RunSummary", "connect_ray", "done_count", "name_invalid", "plan_study", "run_study"]

RESULT_NEUTRAL_DATA = ("device", "cache", "gallery")  # settings that cannot change a result
MAX_NAMED_GROUPS = 6
Progress = Callable[[int], None]  # called with the number of points just finished


class InvalidPoints(StudyError):
    """Some points cannot run on this data/model: a configuration error, named by its cells."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by SIGTERM; what finished is kept. A KeyboardInterrupt, like Ctrl-C, so that
    no ``except Exception`` on the way (a failing point's handler) can mistake it for a point's error."""


@dataclass
class InvalidGroup:
    """Points that fail the engine's check for one reason, and the cells that name them."""

    cells: str
    reason: str
    points: int


@dataclass
class Plan:
    """The points that will run, the ones left out as invalid, and each grid table's members."""

    points: list[dict]
    invalid: list[InvalidGroup]
    grids: list[tuple[str, list[int]]]  # (label, indices into points)
    total: int
    skip_invalid: bool = False

    @property
    def n_invalid(self) -> int:
        return sum(g.points for g in self.invalid)

    def invalid_line(self, study: Study) -> str:
        return (f"{study.path}: {self.n_invalid} of {self.total} points cannot run (a configuration error: a rerun "
                f"would fail the same way): {name_invalid(self.invalid)}. Fix the grid, or pass --skip-invalid to "
                "leave them out")


def name_invalid(groups: list[InvalidGroup]) -> str:
    """The invalid cells in a few words: groups of one parameter failing alike (the same reason but for
    its numbers: layer 8, layer 9, ...) merged, with the first reason as the example."""
    merged: dict[tuple[str, str], list[InvalidGroup]] = {}
    for g in groups:
        param = g.cells.split(" = ")[0] if g.cells.count(" = ") == 1 else g.cells
        merged.setdefault((param, re.sub(r"\d+", "#", g.reason)), []).append(g)
    parts = []
    for (key, _), same in list(merged.items())[:MAX_NAMED_GROUPS]:
        n = sum(g.points for g in same)
        cells = same[0].cells if len(same) == 1 else f"{key} = " + ", ".join(g.cells.split(" = ", 1)[1] for g in same)
        reason = same[0].reason if len(same) == 1 else f"e.g. {same[0].reason}"
        parts.append(f"{cells} ({n} point{'s' if n > 1 else ''}): {reason}")
    more = f"; and {len(merged) - MAX_NAMED_GROUPS} more" if len(merged) > MAX_NAMED_GROUPS else ""
    return "; ".join(parts) + more


@dataclass
class RunSummary:
    out: Path
    total: int
    skipped: int
    done: int = 0
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    backend: str = "local"
    invalid: list[InvalidGroup] = field(default_factory=list)

    @property
    def config_failures(self) -> list[dict]:
        return [r for r in self.failures if failure_kind(r) == "config"]

    @property
    def crashes(self) -> list[dict]:
        return [r for r in self.failures if failure_kind(r) != "config"]


def failure_kind(record: dict) -> str:
    """``config`` (a rerun fails the same way) or ``crash``; records of older runs by their error's class."""
    if "error_kind" in record:
        return record["error_kind"]
    name = (record.get("error") or "").split(":", 1)[0]
    return "config" if name.endswith("Error") and name in ("OptionError", "StudyError", "ModelError", "ImageError",
                                                           "WeightsError") else "crash"


def hashed_points(study: Study) -> list[dict]:
    data = {k: v for k, v in study.data.items() if k not in RESULT_NEUTRAL_DATA}
    return [{**p, "_hash": point_hash(study.engine, data, p)} for p in study.points]


def plan_study(study: Study, skip_invalid: bool = False) -> Plan:
    """Check every point against the engine (cheap, before anything runs) and keep the valid ones."""
    engine = get_engine(study.engine)
    points = hashed_points(study)
    problems = [engine.check_point(study.data, {k: v for k, v in p.items() if k != "_hash"}) for p in points]
    keep = [i for i, problem in enumerate(problems) if problem is None]
    index = {old: new for new, old in enumerate(keep)}
    grids = [(label, [index[i] for i, member in enumerate(study.point_grids) if g in member and i in index])
             for g, label in enumerate(study.grid_labels)]
    invalid = invalid_groups(study, points, problems)
    return Plan([points[i] for i in keep], invalid, grids, len(points), skip_invalid)


def invalid_groups(study: Study, points: list[dict], problems: list[str | None]) -> list[InvalidGroup]:
    """Group the invalid points by reason and name each group by the cell values no valid point has."""
    engine = get_engine(study.engine)
    keys = [k for k in study.varying() if k not in (*engine.axes(study.data), "repeat", "seed")]
    valid_values = {k: {json.dumps(p[k], sort_keys=True) for p, bad in zip(points, problems) if bad is None} for k in keys}
    groups: dict[str, list[dict]] = {}
    for p, problem in zip(points, problems):
        if problem is not None:
            groups.setdefault(problem, []).append(p)
    out = []
    for reason, members in groups.items():
        constant = {k: members[0][k] for k in keys if len({json.dumps(m[k], sort_keys=True) for m in members}) == 1}
        naming = {k: v for k, v in constant.items() if json.dumps(v, sort_keys=True) not in valid_values[k]} or constant
        cells = ", ".join(f"{k} = {v}" for k, v in naming.items()) or "every cell"
        out.append(InvalidGroup(cells, reason, len(members)))
    return out


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (``timeout``, a scheduler) raises :class:`Interrupted`, so workers are stopped and the
    lock released as on Ctrl-C. Only the main thread can handle signals; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(f"stopped by {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- the whole run ------------------------------------------------------------------------------
def run_study(study: Study, out: str | os.PathLike, *, workers: int | None = None, ray: str | None = None,
              overrides: list[str] | None = None, progress: Progress | None = None,
              on_start: Callable[[int, int], None] | None = None, skip_invalid: bool = False,
              notice: Notice = warn) -> RunSummary:
    """Run every point not yet done; ``progress(n)`` is called as points finish, ``notice(line)`` for
    what the user should know (a damaged log repaired, a stale lock taken over)."""
    out = Path(out)
    check_results_dir(out, study)
    plan = plan_study(study, skip_invalid)
    if plan.invalid and not skip_invalid:
        raise InvalidPoints(plan.invalid_line(study))
    make_dirs(out)
    with ResultsLock(out, notice), stop_on_sigterm():
        check_results_dir(out, study)  # another study's run may have finished there since the first check
        return _run_locked(study, out, plan, workers, ray, overrides or [], progress, on_start, notice)


def _run_locked(study: Study, out: Path, plan: Plan, workers: int | None, ray: str | None, overrides: list[str],
                progress: Progress | None, on_start: Callable[[int, int], None] | None,
                notice: Notice) -> RunSummary:
    engine = get_engine(study.engine)
    points = plan.points
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    backend = f"ray:{ray}" if ray else "local"
    write_meta(out, study, engine, plan, overrides, backend, started, None)  # first: it marks a results directory
    write_text(out / STUDY_COPY, study.text)
    log = ResultLog(out / LOG)
    records = log.read()
    warning = log.warning()
    if warning:
        notice(warning)
        log.compact(records)
    pending = [p for p in points if p["_hash"] not in records or records[p["_hash"]]["error"]]
    summary = RunSummary(out, len(points), len(points) - len(pending), backend=backend,
                         invalid=plan.invalid if plan.skip_invalid else [])
    if on_start:
        on_start(len(points), len(pending))
    clock = time.perf_counter()
    if pending:
        _run_pending(engine, study, out, pending, records, log, summary, workers, ray, progress)
    summary.seconds = time.perf_counter() - clock
    engine.finalize(study.data, points, out / ARTIFACTS)
    hashes = [p["_hash"] for p in points]
    write_table(out, [k for k in engine.params if k in points[0]] if points else [], list(engine.metrics), hashes,
                records)
    summary.failures = [records[h] for h in hashes if h in records and records[h]["error"]]
    write_meta(out, study, engine, plan, overrides, backend, started,
               datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return summary


def _run_pending(engine: Engine, study: Study, out: Path, pending: list[dict], records: dict, log: ResultLog,
                 summary: RunSummary, workers: int | None, ray: str | None, progress: Progress | None) -> None:
    engine.prepare(study.data, pending)
    workers = workers or os.cpu_count() or 1
    units = make_units(engine, pending, workers)
    artifacts = str(out / ARTIFACTS)
    stream = (run_ray(engine, study.data, units, artifacts, ray, workers) if ray
              else run_local(engine, study.data, units, artifacts, workers))
    with closing(stream):  # however the loop ends, the generator's clean-up stops the workers
        for results in stream:
            log.append(results)
            for r in results:
                records[r["hash"]] = r
            summary.done += len(results)
            if progress:
                progress(len(results))


def done_count(study: Study, out: Path, notice: Notice = warn) -> tuple[Plan, int]:
    """For ``--plan``: the plan and how many of its points are already done in ``out``."""
    check_results_dir(out, study)
    plan = plan_study(study)
    log = ResultLog(out / LOG)
    records = log.read()
    warning = log.warning()
    if warning:
        notice(warning)
    done = sum(1 for p in plan.points if p["_hash"] in records and not records[p["_hash"]]["error"])
    return plan, done
