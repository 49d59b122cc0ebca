"""Experiment studies: TOML checking, grids, the resumable runner, statistics and the report."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recollection.errors import RecollectionError
from recollection.experiments.runner import LOG, InvalidPoints, ResultLog, connect_ray, run_study
from recollection.experiments.stats import load_results, selections
from recollection.experiments.study import StudyError, load_study
from recollection.stats import difference_interval

TINY = """
[study]
name = "tiny"
engine = "cnn.recollect"
seed = 0

[data]
images = "drawn-digits"
limit = {limit}

[params]
model = "digits"

[grid]
source = ["class", "zero", "random-class"]
normalize = {normalize}
view = ["rescale_std", "minmax"]

[[compare]]
metric = "pearson"
param = "source"
a = "class"
b = "zero"
"""


def write_study(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def tiny(tmp_path: Path, limit: int = 3, normalize: str = '["rescale_std", "none"]') -> Path:
    return write_study(tmp_path, TINY.format(limit=limit, normalize=normalize))


def table(out: Path) -> list[dict]:
    with open(out / "results.csv") as fh:
        return list(csv.DictReader(fh))


# --- experiment files -----------------------------------------------------------------------------
@pytest.mark.parametrize("change, expected", [
    (("[grid]", "[grid]\ncolour = [1]"), "[grid] colour: unknown parameter of engine cnn.recollect"),
    (('normalize = ["rescale_std", "none"]', 'normalize = []'), "[grid] normalize: empty list"),
    (('normalize = ["rescale_std", "none"]', 'normalize = ["sideways"]'), "[grid] normalize: expected one of"),
    (('seed = 0', 'seed = "zero"'), "[study] seed: expected an integer"),
    (('seed = 0', 'seed = 0\nauthor = "me"'), "[study] author: unknown key"),
    (('limit = 3', 'limit = 3\nzoom = 2'), "[data] zoom: unknown key"),
    (('model = "digits"', 'model = 3'), "[params] model: expected a string"),
    (('engine = "cnn.recollect"', 'engine = "cnn.forward"'), "[study] engine: unknown engine 'cnn.forward'"),
    (('metric = "pearson"', 'metric = "beauty"'), "unknown metric 'beauty'"),
    (("[[compare]]", "[colours]\n[[compare]]"), "unknown section [colours]"),
])
def test_bad_experiment_files_name_the_file_the_key_and_what_was_expected(tmp_path, change, expected):
    path = write_study(tmp_path, TINY.format(limit=3, normalize='["rescale_std", "none"]').replace(*change))
    with pytest.raises(StudyError) as info:
        load_study(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_an_empty_table_in_a_union_of_grids_is_refused(tmp_path):
    text = TINY.format(limit=1, normalize='["none"]').replace("[grid]", "[[grid]]") + "\n[[grid]]\n"
    with pytest.raises(StudyError, match=r"\[\[grid\]\] #2: empty table"):
        load_study(write_study(tmp_path, text))


def test_grid_expands_to_the_product_with_images_as_the_outer_axis(tmp_path):
    study = load_study(tiny(tmp_path, limit=2))
    assert len(study.points) == 2 * 3 * 2 * 2
    assert [p["image"] for p in study.points[:12]] == ["digit-0"] * 12
    assert study.varying() == ["image", "source", "normalize", "view"]
    assert all(p["model"] == "digits" and p["seed"] == 0 for p in study.points)


def test_repeats_seeds_unions_and_random_search(tmp_path):
    text = """
[study]
name = "n"
engine = "cnn.recollect"
seed = 5
repeats = 3
[data]
images = "drawn-digits"
limit = 1
[params]
model = "digits"
[[grid]]
source = ["class", "zero"]
[[grid]]
source = ["class"]
unpool = ["upsample"]
[[grid]]
source = ["class"]
"""
    study = load_study(write_study(tmp_path, text))
    assert len(study.points) == (2 + 1) * 3  # the third grid repeats a cell of the first: run once
    assert sorted({p["seed"] for p in study.points}) == [5, 6, 7]
    random = text.split("[[grid]]")[0] + "[random]\nn = 4\ntop = {uniform = [0.1, 10.0]}\n"
    a, b = load_study(write_study(tmp_path, random, "r1.toml")), load_study(write_study(tmp_path, random, "r2.toml"))
    tops = [p["top"] for p in a.points]
    assert tops == [p["top"] for p in b.points] and len(set(tops)) == 4 and all(0.1 <= t <= 10 for t in tops)


def test_set_overrides_one_entry(tmp_path):
    study = load_study(tiny(tmp_path), ["grid.source=class", "params.unpool=\"upsample\""])
    assert {p["source"] for p in study.points} == {"class"} and {p["unpool"] for p in study.points} == {"upsample"}
    with pytest.raises(StudyError, match="expected section.key=VALUE"):
        load_study(tiny(tmp_path), ["source"])


def test_shipped_studies_load(tmp_path):
    shipped = sorted((Path(__file__).parents[1] / "experiments").glob("*.toml"))
    assert len(shipped) >= 8
    for path in shipped:
        if "naming" in path.name and not Path("../shared/data/caltech_face_motor").is_dir():
            continue
        if "cnn" in path.name:
            study = load_study(path, ["data.images=\"drawn-digits\""])
        else:
            study = load_study(path)
        assert study.points and study.name == path.stem
    options = load_study(Path(__file__).parents[1] / "experiments" / "cnn-options.toml", ["data.images=\"drawn-digits\"",
                                                                                          "data.limit=5"])
    assert len(options.points) == 5 * 4 * 9 * 2 * 2 * 2 * 4 * 4


# --- running ------------------------------------------------------------------------------------
def test_run_writes_a_tidy_table_and_a_rerun_skips_finished_points(tmp_path):
    study = load_study(tiny(tmp_path))
    out = tmp_path / "out"
    first = run_study(study, out, workers=1)
    assert (first.done, first.skipped, first.failures) == (36, 0, [])
    rows = table(out)
    assert len(rows) == 36 and {"image", "source", "normalize", "view", "pearson", "ssim", "r_to_class"} <= set(rows[0])
    assert (out / "study.toml").read_text() == study.text
    meta = json.loads((out / "meta.json").read_text())
    assert meta["versions"]["recollection"] and meta["study"]["name"] == "tiny"
    class_rows = [r for r in rows if r["source"] == "class"]
    assert all(float(r["r_to_class"]) == pytest.approx(1.0) for r in class_rows)
    assert np.mean([float(r["pearson"]) for r in class_rows]) > 0.3  # the digits come back
    again = run_study(study, out, workers=1)
    assert (again.done, again.skipped) == (0, 36)
    assert len((out / LOG).read_text().splitlines()) == 36  # nothing recomputed


def test_worker_processes_give_the_same_table_as_one_process(tmp_path):
    study = load_study(tiny(tmp_path, limit=2))
    run_study(study, tmp_path / "one", workers=1)
    run_study(study, tmp_path / "two", workers=2)
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in table(tmp_path / "one")] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in table(tmp_path / "two")]


def test_points_that_cannot_run_stop_the_run_before_it_starts_naming_their_cells(tmp_path):
    study = load_study(tiny(tmp_path, limit=1), ["grid.source=[\"class\", \"layer:99\", \"class:12\"]"])
    with pytest.raises(InvalidPoints) as info:
        run_study(study, tmp_path / "out", workers=1)
    line = str(info.value)
    assert "\n" not in line and "8 of 12 points cannot run" in line and "rerun would fail the same way" in line
    assert "source = layer:99" in line and "layer 99 is out of range" in line
    assert "source = class:12" in line and "class index 12 is out of range" in line and "--skip-invalid" in line
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written
    summary = run_study(study, tmp_path / "out", workers=1, skip_invalid=True)
    assert (summary.done, summary.failures) == (4, []) and sum(g.points for g in summary.invalid) == 8
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert len(meta["points"]) == 4 and {g["cells"] for g in meta["invalid"]} == {"source = layer:99", "source = class:12"}
    assert len(table(tmp_path / "out")) == 4


def test_a_partial_last_line_from_a_crash_is_ignored(tmp_path):
    study = load_study(tiny(tmp_path, limit=1))
    out = tmp_path / "out"
    run_study(study, out, workers=1)
    lines = (out / LOG).read_text().splitlines(keepends=True)
    (out / LOG).write_text("".join(lines[:5]) + lines[5][:40])  # killed in the middle of a write
    assert len(ResultLog(out / LOG).read()) == 5
    with pytest.warns(UserWarning, match="skipped 1 damaged line"):
        summary = run_study(study, out, workers=1)
    assert (summary.skipped, summary.done) == (5, len(lines) - 5)
    assert len(ResultLog(out / LOG).read()) == len(lines)


def test_killing_a_run_half_way_and_rerunning_finishes_without_recomputing(tmp_path):
    path = tiny(tmp_path, limit=10, normalize='["rescale_std", "none", "std", "minmax", "minmax_local", "std_global"]')
    study = load_study(path)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "recollection.cli", "run", str(path), "--out", str(out),
                             "--workers", "1", "--no-report"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    log = out / LOG
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 12):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(ResultLog(log).read())
    assert 12 <= done_before < len(study.points), "the run finished before it could be killed"
    with pytest.warns(UserWarning) as warned:
        summary = run_study(study, out, workers=1)
    assert any("took over the lock left by PID" in str(w.message) for w in warned)
    assert summary.skipped == done_before and summary.done == len(study.points) - done_before
    assert len(ResultLog(log).read()) == len(study.points)
    assert len(table(out)) == len(study.points)


def test_a_results_directory_of_another_study_is_refused(tmp_path):
    run_study(load_study(tiny(tmp_path, limit=1)), tmp_path / "out", workers=1)
    other = write_study(tmp_path, TINY.format(limit=1, normalize='["none"]').replace('name = "tiny"', 'name = "other"'),
                        "other.toml")
    with pytest.raises(StudyError, match="holds results of study 'tiny'.*not of 'other'"):
        run_study(load_study(other), tmp_path / "out", workers=1)
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    with pytest.raises(StudyError, match="not a results directory"):
        run_study(load_study(other), tmp_path / "stuff", workers=1)


def test_an_unreachable_ray_address_is_one_clear_error():
    pytest.importorskip("ray")
    with pytest.raises(RecollectionError, match="cannot reach a Ray cluster"):
        connect_ray("127.0.0.1:9", None)
    with pytest.raises(RecollectionError, match="expected local, auto, HOST:PORT"):
        connect_ray("nowhere", None)


def test_a_local_ray_cluster_gives_the_same_table_as_the_local_run(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'recollection[ray]'")
    study = load_study(tiny(tmp_path, limit=2))
    run_study(study, tmp_path / "local", workers=2)
    summary = run_study(study, tmp_path / "ray", workers=2, ray="local")
    assert summary.backend == "ray:local" and summary.done == len(study.points)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(table(tmp_path / "ray")) == strip(table(tmp_path / "local"))


def test_cli_run_reports_bad_files_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from recollection.cli import app

    bad = write_study(tmp_path, TINY.format(limit=1, normalize="[]"))
    result = CliRunner().invoke(app, ["run", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "[grid] normalize: empty list" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["run", str(tiny(tmp_path, limit=1)), "--out", str(tmp_path / "o"), "--plan"])
    assert result.exit_code == 0 and "12 points (0 done" in result.output


# --- statistics -----------------------------------------------------------------------------------
def test_bootstrap_intervals_of_a_paired_difference_are_narrower_than_unpaired():
    rng = np.random.default_rng(1)
    b = rng.normal(0, 1, 400)
    a = b + 0.3 + rng.normal(0, 0.05, 400)
    paired = difference_interval(a, b, paired=True)
    ci = paired.interval
    assert ci.method == "bca" and ci.low < 0.3 < ci.high and ci.high - ci.low < 0.02 and paired.boot.size == 10_000
    unpaired = difference_interval(a, b, paired=False).interval
    assert unpaired.estimate == pytest.approx(ci.estimate) and unpaired.high - unpaired.low > 5 * (ci.high - ci.low)
    again = difference_interval(a, b, True, seed=3).interval
    assert (again.low, again.high) == (difference_interval(a, b, True, seed=3).interval.low,
                                       difference_interval(a, b, True, seed=3).interval.high)
    same = difference_interval(np.ones(10) * 2, np.ones(10), paired=True).interval
    assert (same.estimate, same.low, same.high, same.method) == (1.0, 1.0, 1.0, "exact")


def test_selection_chooses_on_validation_and_reports_test(tmp_path):
    from recollection.experiments.stats import Results

    rows = [{"conv1": c, "validation": v, "test": t} for c, v, t in ((5.0, 0.90, 0.99), (7.0, 0.95, 0.93), (9.0, 0.80, 0.97))]
    meta = {"selections": [{"metric": "validation", "larger_is_better": True, "report": ["test"], "by": []}],
            "varying": ["conv1"]}
    chosen = selections(Results(tmp_path, meta, rows, []))
    assert chosen == [{"group": {}, "metric": "validation", "value": 0.95, "config": {"conv1": 7.0}, "candidates": 3,
                       "report": {"test": 0.93}}]


# --- the report -------------------------------------------------------------------------------------
def test_report_has_tables_comparisons_and_a_gallery(tmp_path):
    from recollection.experiments.report import write_report

    out = tmp_path / "out"
    run_study(load_study(tiny(tmp_path, limit=2)), out, workers=1)
    page, summary = write_report(out)
    text = page.read_text()
    assert "<h2>Comparisons</h2>" in text and "<h2>Gallery</h2>" in text and "data:image/png;base64," in text
    md = summary.read_text()
    assert "| pearson: class − zero | 8 |" in md
    stats = json.loads((out / "stats.json").read_text())
    c = stats["comparisons"][0]
    assert c["paired"] and c["n_a"] == 8 and c["ci_low"] <= c["difference"] <= c["ci_high"]
    assert -2 <= c["ci_low"] and c["ci_high"] <= 2 and c["ci_method"] == "percentile"  # 3 ≤ n = 8 < 10
    results = load_results(out)
    assert len(results.rows) == 24 and not results.failures
