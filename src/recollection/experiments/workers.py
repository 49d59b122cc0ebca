"""Where a study's units run: in this process, in worker processes that die with it, or on Ray."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from types import ModuleType
from typing import Any, Generator

from ..errors import RecollectionError
from ..io import OutputError
from .engines import get_engine
from .schema import Engine

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_SECONDS = 0.5


# --- one unit -------------------------------------------------------------------------------------
def run_unit_safely(engine_name: str, data: dict, points: list[dict], artifacts: str | None) -> list[dict]:
    """Run one unit in a worker; a failing point is recorded with its error, the others still run.
    A result that cannot be written (a full disk) stops the study instead: every point would fail."""
    import torch

    torch.set_num_threads(1)  # one thread per worker: the same numbers on any backend
    engine = get_engine(engine_name)
    folder = Path(artifacts) if artifacts else None
    start = time.perf_counter()
    try:
        results = engine.run_unit(data, points, folder)
        seconds = (time.perf_counter() - start) / len(points)
        return [record(p, r, None, seconds) for p, r in zip(points, results)]
    except OutputError:
        raise
    except Exception:
        if len(points) == 1:
            return [record(points[0], None, error_text(), time.perf_counter() - start, error_kind())]
    out = []
    for p in points:  # isolate the failing point(s)
        out += run_unit_safely(engine_name, data, [p], artifacts)
    return out


def error_text() -> str:
    """The exception being handled, in one line (with where it was raised, unless it is a user error)."""
    _, value, tb = sys.exc_info()
    kind = type(value).__name__
    if isinstance(value, RecollectionError):
        return f"{kind}: {value}"
    last = traceback.extract_tb(tb)[-1]
    return f"{kind}: {value} (at {Path(last.filename).name}:{last.lineno})"


def error_kind() -> str:
    """``config``: the input is wrong and a rerun would fail the same way; ``crash``: anything else."""
    return "config" if isinstance(sys.exc_info()[1], RecollectionError) else "crash"


def record(p: dict, metrics: dict | None, error: str | None, seconds: float, kind: str | None = None) -> dict:
    out = {"hash": p["_hash"], "params": {k: v for k, v in p.items() if k != "_hash"}, "metrics": metrics,
           "error": error, "seconds": round(seconds, 6)}
    if error:
        out["error_kind"] = kind or "crash"
    return out


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


# --- local processes ----------------------------------------------------------------------------
def die_with_parent(parent: int) -> None:
    """Worker initialiser: never outlive the run that started it, however it ends (SIGKILL included).
    Linux: the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); everywhere: a thread
    watches the parent's PID. Ctrl-C is the parent's to handle (it stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the watch was set
        os._exit(1)
    threading.Thread(target=watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def run_local(engine: Engine, data: dict, units: list[list[dict]], artifacts: str, workers: int
              ) -> Generator[list[dict], None, None]:
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

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent,
                               initargs=(os.getpid(),))
    pending = set()
    try:
        pending = {pool.submit(run_unit_safely, engine.name, data, unit, artifacts) for unit in units}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        if pending:  # stopped early (Ctrl-C, SIGTERM, an error): the units in flight are abandoned
            stop_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.kill()
    for p in processes:
        p.join(timeout=10)


# --- Ray ------------------------------------------------------------------------------------------
def connect_ray(address: str, workers: int | None) -> ModuleType:
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
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR", ignore_reinit_error=True)
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
            workers: int | None) -> Generator[list[dict], None, None]:
    ray = connect_ray(address, workers)
    try:
        remote = ray.remote(num_cpus=1)(run_unit_safely)
        pending = [remote.remote(engine.name, data, unit, artifacts) for unit in units]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        ray.shutdown()
