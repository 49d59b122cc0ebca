"""The shipped attention studies, shrunk: they run, pair their comparisons and report a gallery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recollection.experiments.report import write_report
from recollection.experiments.runner import run_study
from recollection.experiments.study import load_study

from conftest import shared_path

STUDIES = Path(__file__).resolve().parents[1] / "experiments"


def rows(out: Path) -> list[dict]:
    records = [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]
    return [{**r["params"], **(r["metrics"] or {}), "error": r["error"]} for r in records]


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_the_attention_study_runs_shrunk_on_the_drawn_digits_and_reports(tmp_path):
    pytest.importorskip("captum")
    study = load_study(STUDIES / "cnn-attention.toml", ['data.images="drawn-digits"', "data.pairs=6", "data.gallery=2"])
    assert {p["method"] for p in study.points} == {"recollection", "deconvolution", "guided-backprop", "saliency",
                                                   "input-x-gradient", "grad-cam"}
    out = tmp_path / "out"
    summary = run_study(study, out, workers=1)
    assert summary.failures == [] and summary.done == len(study.points) == 6 * 19
    done = rows(out)
    pick = lambda **kw: [r["selectivity"] for r in done if all(r[k] == v for k, v in kw.items())]  # noqa: E731
    none = pick(method="recollection", normalize="none", cue="class", unpool="switches", random_init=False)
    assert len(none) == 6 and mean(none) > 0.1
    assert abs(mean(pick(normalize="rescale_std"))) < 0.01  # the papers' normalisation erases the concept
    assert pick(cue="zero") == [0.0] * 6
    page, _ = write_report(out)
    stats = json.loads((out / "stats.json").read_text())
    compared = {c["name"]: c for c in stats["comparisons"]}
    assert compared["recollection (none) vs Captum Saliency"]["paired"] and compared["recollection (none) vs Captum Saliency"]["n_a"] == 6
    assert compared["normalisation none vs rescale_std (the papers' favourite)"]["ci_low"] > 0
    html = page.read_text()
    assert "Attention: selectivity per configuration" in html and html.count("data:image/png") > 2 * 19
    assert (out / "artifacts" / "mix-max-pair-000.png").exists() and not (out / "artifacts" / "mix-max-pair-002.png").exists()


def test_the_tiled_study_scores_localisation(tmp_path):
    study = load_study(STUDIES / "cnn-attention-tiled.toml", ['data.images="drawn-digits"', "data.pairs=8", "data.gallery=0"])
    study.points = [p for p in study.points if p["method"] == "recollection" and p["cue"] == "class"
                    and p["normalize"] == "none" and not p["random_init"]]
    run_study(study, tmp_path / "out", workers=1)
    done = rows(tmp_path / "out")
    switches = [r["energy_in_mask"] for r in done if r["unpool"] == "switches"]
    upsample = [r["energy_in_mask"] for r in done if r["unpool"] == "upsample"]
    assert len(switches) == len(upsample) == 8 and mean(switches) > mean(upsample)
    assert all(r["pointing"] in (0.0, 0.5, 1.0) for r in done)


def test_the_spiking_attention_study_runs_shrunk(tmp_path):
    shared_path("data", "caltech_face_motor")
    shared_path("data", "sdnn_weights", "run61")
    study = load_study(STUDIES / "naming-attention.toml", ["data.pairs=2", "data.gallery=1"])
    out = tmp_path / "out"
    summary = run_study(study, out, workers=1)
    assert summary.failures == [] and summary.done == 2 * 3
    done = rows(out)
    for r in done:
        assert -2.0 <= r["selectivity"] <= 2.0 and r["selectivity"] == pytest.approx(r["r_own"] - r["r_other"])
    write_report(out)
    md = (out / "report.md").read_text()
    assert "Attention: selectivity per configuration" in md and "| name 1 nearer its own | name 2 nearer its own |" in md


def test_spiking_recall_from_the_mix_depends_on_the_name_and_spreading_not_on_the_pair():
    shared_path("data", "caltech_face_motor")
    shared_path("data", "sdnn_weights", "run61")
    import numpy as np

    from recollection.attention.spiking import attend_spiking, class_pairs
    from recollection.experiments.attend_engine import NamingAttend, spiking_setup
    from recollection.naming.recall import train_names

    data = NamingAttend().check_data({}, "test")
    s = spiking_setup(data, "run61", 7.0, 20.25)
    names = train_names(s, "full", 0, "paper")
    chosen = class_pairs(s.test.labels, 2, 0)
    assert [s.test.labels[i] for i in chosen[0]] == [0, 1]
    paths = [tuple(s.test.paths[j] for j in pair) for pair in chosen]
    mixed = attend_spiking(s, names, paths[0], switches="mix")
    assert not np.allclose(mixed.recalls[0], mixed.recalls[1])  # same switches, different names
    spread = [attend_spiking(s, names, p, switches="none") for p in paths]
    assert np.array_equal(spread[0].recalls[0], spread[1].recalls[0])  # no image: the same recall for every pair
    assert mixed.scores()["selectivity"] == pytest.approx(mixed.scores()["r_own"] - mixed.scores()["r_other"])
