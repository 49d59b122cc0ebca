"""A runner that keeps results safe: one run per results directory, a log that survives damage,
workers that die with the run, a full disk reported in one line, configuration errors told apart."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import toy_engine  # noqa: F401  (registers the engine test.toy)
from typer.testing import CliRunner

from recollection.cli import app
from recollection.experiments import report as report_module
from recollection.experiments import results_dir
from recollection.experiments.report import write_report
from recollection.experiments.runner import LOG, ResultLog, ResultsBusy, done_count, run_study
from recollection.experiments.stats import load_results
from recollection.experiments.study import load_study
from recollection.io import OutputError, atomic_write

DIGITS = """
[study]
name = "safety"
engine = "cnn.recollect"
[data]
images = "drawn-digits"
limit = {limit}
gallery = false
[params]
model = "digits"
[grid]
source = ["class", "zero", "random-class"]
normalize = {normalize}
positivise = [true, false]
"""
NORMALIZE_ALL = ('["rescale_std", "none", "std", "std_global", "rescale_std_local", "minmax", "minmax_local", '
                 '"minmax_rescale", "minmax_01_05_rescale"]')
TOY = """
[study]
name = "toy"
engine = "test.toy"
repeats = 2
[grid]
fail = ["none", "crash", "config"]
"""
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")


def study_file(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def start_run(path: Path, out: Path, workers: int) -> subprocess.Popen:
    """`recollect run` in a child process, Ctrl-C handled as at a terminal (not ignored as in a background job)."""
    return subprocess.Popen([sys.executable, "-m", "recollection.cli", "run", str(path), "--out", str(out), "--workers",
                             str(workers), "--no-report"], env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(condition, what: str, proc: subprocess.Popen | None = None, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (status {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def logged(out: Path) -> int:
    return len(ResultLog(out / LOG).read())


def parents() -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def descendants(pid: int) -> set[int]:
    ppid = parents()
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in ppid.items() if parent in frontier} - out
        out |= frontier
    return out


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- no orphans ------------------------------------------------------------------------------------
@linux_only
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_worker_processes_die_with_the_run_however_it_is_killed(tmp_path, sig):
    path = study_file(tmp_path, DIGITS.format(limit=2, normalize=NORMALIZE_ALL))  # 18 units of 6 points
    out = tmp_path / "out"
    proc = start_run(path, out, workers=2)
    wait_for(lambda: (out / LOG).exists() and logged(out) > 0, "the first unit finished", proc)
    workers = descendants(proc.pid)
    assert len(workers) >= 2, "the run has no worker processes"
    os.kill(proc.pid, sig)  # the run's process only, as `timeout` or a scheduler does
    proc.wait(timeout=120)
    wait_for(lambda: not any(alive(w) for w in workers), "the workers to exit", timeout=30)
    total = len(load_study(path).points)
    assert 0 < logged(out) < total and not ResultLog(out / LOG).damaged
    if sig != signal.SIGKILL:
        assert proc.returncode == (130 if sig == signal.SIGINT else 143)
        assert "rerun the same command to resume" in proc.stderr.read()
        assert (out / ".lock").read_text() == ""  # released


# --- one run per results directory -------------------------------------------------------------------
def test_a_second_run_is_refused_while_the_first_holds_the_directory_and_a_dead_holders_lock_is_taken_over(tmp_path):
    path = study_file(tmp_path, DIGITS.format(limit=10, normalize='["rescale_std", "none", "std"]'))
    study = load_study(path)
    out = tmp_path / "out"
    first = start_run(path, out, workers=1)

    def holder() -> dict:
        try:
            return json.loads((out / ".lock").read_text() or "{}")
        except (OSError, ValueError):
            return {}

    wait_for(lambda: holder().get("pid") == first.pid, "the first run to take the lock", first)
    try:
        with pytest.raises(ResultsBusy, match=f"in use by another `recollect run` \\(PID {first.pid} on "
                                              f"{socket.gethostname()}"):
            run_study(study, out, workers=1)
        result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--workers", "1"])
        assert result.exit_code == 2 and f"PID {first.pid}" in result.output and "Traceback" not in result.output
        assert first.poll() is None, "the first run ended before the second was refused"
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    before = logged(out)
    notices: list[str] = []
    summary = run_study(study, out, workers=1, notice=notices.append)
    assert any(f"took over the lock left by PID {first.pid}" in n for n in notices), notices
    assert summary.skipped == before and summary.done == len(study.points) - before
    lines = (out / LOG).read_text().splitlines()
    assert len(lines) == len(study.points) == len({json.loads(line)["hash"] for line in lines})  # none twice


# --- a damaged log --------------------------------------------------------------------------------------
def test_a_damaged_log_is_skipped_with_one_warning_and_its_points_are_recomputed(tmp_path):
    path = study_file(tmp_path, DIGITS.format(limit=2, normalize='["none"]'))
    study = load_study(path)
    out = tmp_path / "out"
    run_study(study, out, workers=1)
    lines = (out / LOG).read_bytes().splitlines()
    assert len(lines) == 12
    garbage = [b"\xff\xfe not UTF-8 \x00", b"[1, 2, 3]", b"42", b'{"hash": "abc"}', b'"a string"']
    (out / LOG).write_bytes(b"\n".join(lines[:6] + garbage + [lines[6][:40]]))  # and a line cut short
    notices: list[str] = []
    assert len(load_results(out, notices.append).rows) == 6
    assert len(notices) == 1 and "skipped 6 damaged lines" in notices[0]
    assert done_count(study, out, notices.append)[1] == 6 and len(notices) == 2
    for args in (["run", str(path), "--out", str(out), "--plan"], ["report", str(out)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0 and "skipped 6 damaged lines" in result.output and "Traceback" not in result.output
    notices.clear()
    summary = run_study(study, out, workers=1, notice=notices.append)
    assert (summary.skipped, summary.done, len(notices)) == (6, 6, 1)
    log = ResultLog(out / LOG)
    assert len(log.read()) == 12 and log.damaged == []  # repaired: the next read is clean
    assert (out / "points.damaged").read_bytes().count(b"\n") == 6  # the bad lines are kept for inspection


# --- a full disk -----------------------------------------------------------------------------------------
def test_a_full_disk_stops_the_run_in_one_line_and_the_rerun_resumes(tmp_path, monkeypatch):
    path = study_file(tmp_path, DIGITS.format(limit=2, normalize='["none", "std"]'))
    study = load_study(path)
    out = tmp_path / "out"
    calls = []
    real = results_dir.write_fd

    def full_on_the_second_append(fd: int, blob: bytes) -> int:
        calls.append(len(blob))
        if len(calls) < 2:
            return real(fd, blob)
        real(fd, blob[: len(blob) // 2])  # half a unit written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(results_dir, "write_fd", full_on_the_second_append)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"cannot write {out / LOG}: No space left on device (" in result.output and "free on that disk)" in result.output
    log = ResultLog(out / LOG)
    assert len(log.read()) == 6 and log.damaged == []  # the first unit; the half-written second was cut back off
    assert (out / ".lock").read_text() == ""
    monkeypatch.setattr(results_dir, "write_fd", real)
    summary = run_study(study, out, workers=1)
    assert (summary.skipped, summary.done) == (6, 18)


def test_a_full_disk_while_writing_the_report_leaves_no_partial_figure(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_study(load_study(study_file(tmp_path, DIGITS.format(limit=3, normalize='["none"]'))), out, workers=1)

    def full(path, data: bytes):
        def write(fh):
            fh.write(data[: len(data) // 2])
            fh.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return atomic_write(path, write)

    monkeypatch.setattr(report_module, "write_bytes", full)
    with pytest.raises(OutputError, match=r"cannot write .*figures.*\.png: No space left on device \(.* free on that"):
        write_report(out)
    assert [p.name for p in out.rglob("*") if p.is_file() and (p.stat().st_size == 0 or ".tmp" in p.name)] in ([],
                                                                                                              [".lock"])
    assert not list((out / "figures").iterdir())


def test_a_full_disk_inside_a_point_stops_the_study_instead_of_failing_every_point(tmp_path):
    path = study_file(tmp_path, TOY.replace('fail = ["none", "crash", "config"]', 'fail = ["disk"]'))
    with pytest.raises(OutputError, match="No space left on device"):
        run_study(load_study(path), tmp_path / "out", workers=1)
    assert not (tmp_path / "out" / LOG).exists()  # no point recorded as failed


# --- configuration errors are not crashes -----------------------------------------------------------------
def test_configuration_errors_are_told_apart_from_crashes(tmp_path):
    path = study_file(tmp_path, TOY)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 1
    assert "2 of 6 points failed on their configuration: a rerun fails the same way" in result.output
    assert "2 of 6 points failed while running; rerun the same command to retry them" in result.output
    md = (out / "report.md").read_text()
    assert "## Configuration errors" in md and "OptionError: the toy refuses this setting" in md
    assert "## Failures" in md and "RuntimeError: the toy crashed" in md
    assert md.count("rerun the same command to retry") == 1


def test_plan_names_the_points_that_cannot_run(tmp_path):
    path = study_file(tmp_path, TOY.replace('fail = ["none", "crash", "config"]', 'x = ["a", "bad"]'))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "--plan"])
    assert result.exit_code == 0 and "toy: 2 points (0 done" in result.output
    assert "2 of 4 points cannot run" in result.output and "x = bad (2 points): x = bad is not a level" in result.output
