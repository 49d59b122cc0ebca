"""Presets and protocols: one definition of every naming setting and of corrected mode, read by the CLI,
`reproduce`, the study engines and the dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from conftest import shared_path
from recollection.cli import app
from recollection.errors import OptionError
from recollection.naming import NameNeurons
from recollection.naming import presets as N
from recollection.naming.experiments import cdf_figure, summary
from recollection.naming.protocols import evaluate, find_params, shot_protocol, shots, split_protocol
from recollection.naming.sources import FeatureBank
from recollection.snn.features import FeatureSet
from recollection.snn.network import NEVER, Thresholds


def toy_set(n_per_class: int = 8, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, (2 * n_per_class, 15, 20, 6, 9)).astype(np.float32)
    y = np.repeat([0, 1], n_per_class)
    X[:n_per_class, 8:, :10] += 12
    X[n_per_class:, 8:, 10:] += 12
    return FeatureSet(X, y, ["a", "b"], [f"img{i}" for i in range(len(y))])


# --- presets ----------------------------------------------------------------------------------------
def cli_defaults(group: str | None, command: str) -> dict:
    root = typer.main.get_command(app)
    cmd = root.commands[group].commands[command] if group else root.commands[command]
    return {p.name: p.default for p in cmd.params}


def test_the_cli_defaults_are_the_presets():
    from recollection.cli.naming import parse_thresholds

    evaluate_ = cli_defaults("naming", "evaluate")
    assert parse_thresholds(evaluate_["svm_thresholds"], "") == N.SVM_THRESHOLDS == Thresholds(10.0, 50.0, NEVER)
    assert evaluate_["naming_thresholds"] is None and evaluate_["init"] is None  # → the weight set's preset
    assert evaluate_["weights"] == N.DEFAULT_WEIGHTS
    assert N.naming_preset(evaluate_["weights"]).naming == N.RUN61_NAMING == Thresholds(7.0, 20.25, NEVER)
    assert N.naming_preset("somewhere/my-stdp-weights").naming == N.RUN61_NAMING  # unknown weights: run61's
    assert N.naming_preset("x/upstream").naming == Thresholds(6.25, 20.75, NEVER) and N.PRESETS["upstream"].init == 0.5
    shots_ = cli_defaults("naming", "shots")
    assert shots_["novelty"] == N.ONESHOT_NOVELTY == 65.0 and shots_["rate"] == 1.0
    assert shots_["validation_runs"] == N.VALIDATION_RUNS
    assert parse_thresholds(cli_defaults("naming", "features")["thresholds"], "") == N.SVM_THRESHOLDS
    assert cli_defaults("naming", "splits")["train_per_class"] == N.SPLIT_TRAIN_PER_CLASS
    assert NameNeurons().init == N.PAPER_INIT == 0.575


def test_the_study_engines_and_the_recall_rules_read_the_presets():
    from recollection.experiments.engines import get_engine
    import inspect

    from recollection.naming.recall import RULES, setup

    shots_ = get_engine("naming.shots").params
    assert (shots_["conv1"].default, shots_["conv2"].default) == (N.RUN61_NAMING.conv1, N.RUN61_NAMING.conv2)
    assert shots_["init"].default == N.PAPER_INIT and shots_["novelty"].default == N.ONESHOT_NOVELTY
    corrected = get_engine("naming.corrected_shots").params
    assert corrected["weights"].default.split(",") == list(N.PRESETS)
    assert corrected["validation_runs"].default == N.VALIDATION_RUNS
    assert inspect.signature(setup).parameters["thresholds"].default == N.RUN61_NAMING
    assert RULES["corrected"] == N.CORRECTED_RULE


def test_the_corrected_one_shot_candidates_are_the_published_16():
    published = [(w, th, i, a) for w, th in (("run61", (7.0, 20.25)), ("run61", (10.0, 50.0)),
                                              ("upstream", (6.25, 20.75)), ("svm_oneshot", (10.0, 50.0)))
                 for i in ("neurons", "maps") for a in (10.0, 20.0)]
    ours = N.oneshot_candidates()
    assert [(c.weights, (c.thresholds.conv1, c.thresholds.conv2), c.params["inputs"], c.params["active_threshold"])
            for c in ours] == published
    assert all(c.params | {"inputs": 0, "active_threshold": 0} == {**N.ONESHOT_CORRECTED, "inputs": 0, "active_threshold": 0}
               for c in ours)
    assert ours[0].params["mode"] == "corrected" and ours[0].params["init_std"] == 0.0
    # another weight set (trained here) is searched at the given (default run61's) thresholds and the SVM's
    mine = N.oneshot_candidates(["stdp/weights"])
    assert len(mine) == 8 and {c.thresholds for c in mine} == {N.RUN61_NAMING, N.SVM_THRESHOLDS}
    given = N.oneshot_candidates(["run61"], Thresholds(6.0, 16.0, NEVER), {"novelty": 30.0})
    assert {c.thresholds for c in given} == {Thresholds(6.0, 16.0, NEVER), N.SVM_THRESHOLDS}
    assert {c.params["novelty"] for c in given} == {30.0}


def test_one_data_root_lookup(tmp_path, monkeypatch):
    (tmp_path / "caltech_face_motor" / "TrainingSet").mkdir(parents=True)
    assert N.find_data_root(tmp_path) == tmp_path
    monkeypatch.setenv("RECOLLECTION_DATA", str(tmp_path))
    assert N.find_data_root(None) == tmp_path
    with pytest.raises(N.DataError, match="recollect data fetch caltech101"):
        N.find_data_root(tmp_path / "nowhere")
    with pytest.raises(N.DataError, match="mnist"):
        N.find_data_root(tmp_path, needs=("mnist",))
    (tmp_path / "sdnn_weights" / "run61").mkdir(parents=True)
    assert N.resolve_weights("run61", tmp_path) == tmp_path / "sdnn_weights" / "run61"
    with pytest.raises(N.DataError, match="known names"):
        N.resolve_weights("run62", tmp_path)


# --- the name neurons' drive over time --------------------------------------------------------------
@pytest.mark.parametrize("readout", ["sum", "weighted"])
def test_scores_over_time_end_at_the_decision_function(readout):
    fs = toy_set()
    model = NameNeurons(readout=readout).fit(fs.potentials, fs.labels)
    over_time = model.scores_over_time(fs.potentials)
    assert over_time.shape == (len(fs), 15, 2)
    assert np.allclose(over_time[:, -1], model.decision_function(fs.potentials), rtol=1e-12)
    assert np.all(np.diff(over_time, axis=1) >= 0)  # the drive only accumulates
    assert np.array_equal(model.activity(fs.potentials).sum(axis=1), model.drive(fs.potentials)) or readout == "weighted"
    maps = NameNeurons(inputs="maps").fit(fs.potentials, fs.labels)
    assert maps.scores_over_time(fs.potentials).shape == (len(fs), 15, 2) and maps.drive(fs.potentials).shape == (len(fs), 20)


# --- protocols ----------------------------------------------------------------------------------------
def test_protocols_on_explicit_feature_sets():
    fs = toy_set()
    result = evaluate((fs, fs), (fs, fs), {"init": 0.575}, ("sum", "weighted"))
    assert set(result.accuracies()) == {"naming_sum_train", "naming_sum_test", "naming_weighted_train",
                                        "naming_weighted_test", "svm_train", "svm_test"}
    assert result.accuracies()["naming_sum_test"] == 1.0
    draws = [np.array([0, 8]), np.array([1, 9])]
    run = shots(draws, (fs, fs), {"novelty": 65.0}, (fs, fs))
    assert len(run.naming) == 2 and len(run.svm) == 2 and run.params["novelty"] == 65.0
    bank = FeatureBank.from_sets({("toy", N.RUN61_NAMING): (fs, fs), ("toy", N.SVM_THRESHOLDS): (fs, fs)})
    split = split_protocol(bank, "toy", 3, seed=1, train_per_class=4, svm=("toy", N.SVM_THRESHOLDS))
    assert len(split.naming) == 3 and len(split.svm) == 3
    again = split_protocol(bank, "toy", 3, seed=1, train_per_class=4, svm=("toy", N.SVM_THRESHOLDS))
    assert again.naming == split.naming
    corrected = shot_protocol(bank, ["toy"], 4, seed=2, mode="corrected", validation_runs=5)
    assert len(corrected.candidates) == 8 and corrected.params["mode"] == "corrected" and len(corrected.naming) == 4
    search = find_params(bank, "toy", [(N.RUN61_NAMING, {"init": 0.5}), (N.SVM_THRESHOLDS, {"init": 0.575})])
    assert len(search.scores) == 2 and search.best in (0, 1) and 0 <= search.scores[search.best].test <= 1
    with pytest.raises(OptionError, match="validation must be a fraction"):
        find_params(bank, "toy", search.settings, validation=1.5)
    with pytest.raises(OptionError, match="one weight set"):
        shot_protocol(bank, ["toy", "toy"], 4)
    with pytest.raises(OptionError, match="paper or corrected"):
        shot_protocol(bank, ["toy"], 4, mode="bogus")
    with pytest.raises(OptionError, match="no features for weights other"):
        bank.train("other", N.RUN61_NAMING)
    with pytest.raises(OptionError, match="leave no test image"):
        split_protocol(bank, "toy", 1, train_per_class=16)  # 8 + 8 images per class pooled


def test_the_cdf_figure_says_what_it_plots_and_starts_at_zero():
    fig = cdf_figure({"naming": [0.6, 0.8, 0.9], "svm": [0.7, 0.75]}, "one-shot runs")
    ax = fig.axes[0]
    assert ax.get_title() == "one-shot runs" and "accuracy" in ax.get_xlabel() and "runs" in ax.get_ylabel()
    first = ax.get_lines()[0]
    assert first.get_ydata()[0] == 0.0 and first.get_ydata()[-1] == 1.0


# --- one definition of corrected mode: the CLI, reproduce and the study engine agree ----------------
@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    """The shared Caltech folders cut to 8 images per class and part (links, no copies), and the
    published weights."""
    caltech = shared_path("data", "caltech_face_motor", "TrainingSet").parent
    weights = shared_path("data", "sdnn_weights", "svm_oneshot").parent
    root = tmp_path_factory.mktemp("small")
    for part in ("TrainingSet", "TestingSet"):
        for cls in ("Face", "Motor"):
            folder = root / "caltech_face_motor" / part / cls
            folder.mkdir(parents=True)
            for f in sorted((caltech / part / cls).iterdir())[:8]:
                (folder / f.name).symlink_to(f)
    (root / "sdnn_weights").symlink_to(weights, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def run_toml(path: Path, text: str, out: Path) -> list[dict]:
    """Run a study; its points' records in repeat order."""
    from recollection.experiments.runner import run_study
    from recollection.experiments.study import load_study

    path.write_text(text)
    assert run_study(load_study(path), out, workers=1).failures == []
    return sorted((json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()),
                  key=lambda rec: rec["params"]["repeat"])


def test_corrected_one_shot_is_the_same_in_the_cli_reproduce_and_a_study(small_root, small_cache, tmp_path):
    from recollection.naming.reproduce import Reproduction

    cache, seed, pairs, validation = small_cache, 3, 6, 10
    # the CLI, as the README documents it (no --weights: the presets' 16 candidates)
    r = CliRunner().invoke(app, ["naming", "shots", str(small_root / "caltech_face_motor" / "TrainingSet"),
                                 str(small_root / "caltech_face_motor" / "TestingSet"), "--mode", "corrected",
                                 "--runs", str(pairs), "--seed", str(seed), "--validation-runs", str(validation),
                                 "--svm-weights", "svm_oneshot", "--data", str(small_root), "--cache", str(cache),
                                 "--out", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    cli = json.loads((tmp_path / "cli" / "shots.json").read_text())
    assert len(cli["validation_scores"]) == 16
    # reproduce's row
    row = Reproduction(N.DataRoot(small_root), cache).oneshot_corrected(pairs, seed, validation_pairs=validation)
    assert row.detail["naming"] == summary(cli["runs"]["naming"]) and row.detail["svm"] == summary(cli["runs"]["svm"])
    assert row.detail["validation_scores"] == list(cli["validation_scores"].values())
    assert row.detail["chosen"]["weights"] == cli["config"]["weights"]
    assert row.detail["chosen"]["inputs"] == cli["config"]["naming"]["inputs"]
    # a study with the corrected engine: the same pairs (the seeded sequence), the same accuracies
    rows = run_toml(tmp_path / "corrected.toml",
                    f'[study]\nname = "corrected"\nengine = "naming.corrected_shots"\nseed = {seed}\nrepeats = {pairs}\n'
                    f'[data]\nroot = "{small_root}"\ncache = "{cache}"\n[params]\nvalidation_runs = {validation}\n',
                    tmp_path / "study")
    assert [rec["metrics"]["naming"] for rec in rows] == cli["runs"]["naming"]
    assert [rec["metrics"]["svm"] for rec in rows] == cli["runs"]["svm"]
    assert rows[0]["metrics"]["validation"] == max(cli["validation_scores"].values())


def test_corrected_splits_are_the_same_in_the_cli_and_a_study(small_root, small_cache, tmp_path):
    caltech = small_root / "caltech_face_motor"
    r = CliRunner().invoke(app, ["naming", "splits", str(caltech / "TrainingSet"), str(caltech / "TestingSet"),
                                 "--mode", "corrected", "--splits", "2", "--train-per-class", "10", "--seed", "4",
                                 "--data", str(small_root), "--cache", str(small_cache), "--out", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    cli = json.loads((tmp_path / "cli" / "splits.json").read_text())
    assert cli["config"]["name_neurons"] == N.CORRECTED_RULE and len(cli["config"]["chosen_thresholds"]) == 2
    rows = run_toml(tmp_path / "splits.toml",
                    f'[study]\nname = "splits"\nengine = "naming.corrected_splits"\nseed = 4\nrepeats = 2\n'
                    f'[data]\nroot = "{small_root}"\ncache = "{small_cache}"\n[params]\ntrain_per_class = 10\n',
                    tmp_path / "study")
    assert [rec["metrics"]["naming"] for rec in rows] == cli["runs"]["naming"]
    assert [rec["metrics"]["svm"] for rec in rows] == cli["runs"]["svm"]


def test_the_shipped_naming_studies_use_the_presets():
    import tomllib

    for path in sorted((Path(__file__).parents[1] / "experiments").glob("naming-*.toml")):
        params = tomllib.loads(path.read_text()).get("params", {})
        if params.get("weights") in N.PRESETS and "conv1" in params:
            preset = N.naming_preset(params["weights"])
            assert (params["conv1"], params["conv2"]) == (preset.naming.conv1, preset.naming.conv2), path.name
            assert params.get("init", preset.init) == preset.init, path.name
