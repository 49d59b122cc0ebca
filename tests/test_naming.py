"""Name neurons, the SVM baseline, the experiment helpers and the naming CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image
from skimage.data import lfw_subset
from sklearn.base import clone
from typer.testing import CliRunner

from recollection.cli import app
from recollection.errors import OptionError
from recollection.naming import NameNeurons, SpikeSVM
from recollection.naming.experiments import (
    first_shots, random_splits, sample_shots, shot_runs, summary, write_results)
from recollection.naming.neurons import DivergenceWarning
from recollection.snn.features import FeatureSet
from recollection.snn.network import random_weights, save_weights


def toy_potentials(n_per_class: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 drives the first half of the conv3 neurons above 10, class 1 the second half."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, (2 * n_per_class, 15, 20, 6, 9)).astype(np.float32)
    y = np.repeat([0, 1], n_per_class)
    X[:n_per_class, 8:, :10] += 12
    X[n_per_class:, 8:, 10:] += 12
    return X, y


def test_naming_learns_the_co_occurring_neurons():
    X, y = toy_potentials()
    model = NameNeurons().fit(X, y)
    assert (model.predict(X) == y).all()
    w = model.weights_.reshape(2, 20, 6, 9)
    assert w[0, :10].mean() > w[0, 10:].mean()
    assert w[1, 10:].mean() > w[1, :10].mean()


def test_paper_mode_keeps_the_depression_bug_corrected_mode_fixes_it():
    X, y = toy_potentials()
    X0 = np.concatenate([X[:6], X[6:7]])
    y0 = np.array([0] * 6 + [1])
    init = NameNeurons().initial_weights(2, 1080, (20, 6, 9))
    paper = NameNeurons(mode="paper").fit(X0, y0)
    corrected = NameNeurons(mode="corrected").fit(X0, y0)
    active1 = (X0[6] >= 10).any(axis=0).ravel()
    only0 = (X0[:6] >= 10).any(axis=(0, 1)).ravel() & ~active1
    # paper: class 1's neuron changes only where its own image was active; class 0 images never touch it
    assert np.array_equal(paper.weights_[1, only0], init[1, only0])
    # corrected: class 0's images depress class 1's synapses from the neurons they activate
    assert (corrected.weights_[1, only0] < init[1, only0]).all()


def test_paper_potentiation_and_buggy_depression_formula():
    X = np.zeros((2, 15, 1, 1, 2), np.float32)
    X[0, 14, 0, 0, 0] = 11  # one neuron active in the last slot only
    X[1, 14, 0, 0, 1] = 11
    model = NameNeurons(init=0.5, init_std=0.0, shuffle_seed=None).fit(X, [0, 1])
    w = 0.5
    w = w + 0.007 * w * (1 - w)  # label 0: potentiate ...
    w = w - 0.003 * w * (1 - w)  # ... then the bug depresses the label's own weight
    assert model.weights_[0, 0] == pytest.approx(w, abs=1e-15)
    assert model.weights_[0, 1] == 0.5 and model.weights_[1, 0] == 0.5


def test_novelty_boosts_only_the_first_images_and_ties_go_to_the_first_class():
    X = np.zeros((7, 15, 1, 1, 1), np.float32)
    X[:, 14] = 11
    y = np.array([0] * 7)
    y[-1] = 1
    slow = NameNeurons(init=0.5, init_std=0, shuffle_seed=None, novelty=1.0).fit(X, y)
    fast = NameNeurons(init=0.5, init_std=0, shuffle_seed=None, novelty=10.0, novelty_window=5).fit(X, y)
    assert fast.weights_[0, 0] > slow.weights_[0, 0]
    # the 7th image (class 1) is outside the window: class 1 learns at the base rate in both
    assert fast.weights_[1, 0] == pytest.approx(slow.weights_[1, 0])
    silent = np.zeros((1, 15, 1, 1, 1), np.float32)
    assert fast.predict(silent)[0] == 0


def test_weighted_score_and_sklearn_conventions():
    X, y = toy_potentials()
    model = clone(NameNeurons(readout="weighted")).fit(X, y)
    assert model.decision_function(X).shape == (12, 2)
    assert model.score(X, y) == 1.0


def test_bad_options_are_clear():
    X, y = toy_potentials()
    with pytest.raises(OptionError, match="two classes"):
        NameNeurons().fit(X[:6], y[:6])
    with pytest.raises(OptionError, match="mode"):
        NameNeurons(mode="nope").fit(X, y)
    with pytest.warns(DivergenceWarning, match="diverges"):
        NameNeurons(novelty=500).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NameNeurons(novelty=65).fit(X, y)  # a⁺ = 0.455: no warning


def test_svm_zscores_on_training_data():
    X, y = toy_potentials()
    svm = SpikeSVM().fit(X, y)
    assert svm.score(X, y) == 1.0
    assert svm.mean_.shape == (20,)
    two = SpikeSVM().fit(X[[0, 6]], y[[0, 6]])  # the one-shot protocol: z-scored on the two images
    assert np.allclose(two.mean_, X[[0, 6]].max(axis=(1, 3, 4)).mean(0))


def test_shot_sampling_and_helpers():
    labels = np.repeat([0, 1], [5, 7])
    runs = sample_shots(labels, 2, 10, seed=4)
    assert len(runs) == 10 and all(len(r) == 4 and (labels[r] == [0, 0, 1, 1]).all() for r in runs)
    assert all((a == b).all() for a, b in zip(runs, sample_shots(labels, 2, 10, seed=4)))
    with pytest.raises(OptionError, match="smallest class"):
        sample_shots(labels, 6, 1, 0)
    assert list(first_shots(labels, 2)) == [0, 1, 5, 6]
    s = summary([0.5, 0.7, 0.9])
    assert s["mean"] == pytest.approx(0.7) and s["median"] == 0.7 and s["min"] == 0.5 and s["n"] == 3
    for tr, te in random_splits([5, 7], [3, 4], 5, seed=1):
        assert len(set(tr) & set(te)) == 0 and len(tr) == 7 and len(te) == 5


def test_shot_runs_and_results_files(tmp_path):
    X, y = toy_potentials(8)
    fs = FeatureSet(X, y, ["a", "b"], [f"img{i}" for i in range(len(y))])
    runs = sample_shots(y, 1, 6, seed=0)
    res = shot_runs(fs, fs, runs, NameNeurons(novelty=65), fs, fs)
    assert len(res["naming"]) == 6 and len(res["svm"]) == 6
    assert min(res["naming"]) == 1.0
    written = write_results(tmp_path, "demo", {"k": 1}, res)
    data = json.loads(written.json.read_text())
    assert data["summary"]["naming"]["n"] == 6 and written.plot.stat().st_size > 1000
    assert not list(tmp_path.glob("*.tmp*"))


def lfw_folders(root, n=6):
    faces = lfw_subset()
    for part, offset in (("train", 0), ("test", 50)):
        for cls, start in (("face", 0), ("other", 100)):
            d = root / part / cls
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray((faces[start + offset + i] * 255).astype(np.uint8)).save(d / f"{i}.png")
    return root / "train", root / "test"


def test_cli_evaluate_and_shots_on_lfw(tmp_path):
    train, test = lfw_folders(tmp_path)
    save_weights(random_weights(0, mean=0.5, std=0.25), tmp_path / "w")
    runner = CliRunner()
    common = ["--weights", str(tmp_path / "w"), "--naming-thresholds", "4,9.5", "--cache", str(tmp_path / "cache")]
    r = runner.invoke(app, ["naming", "evaluate", str(train), str(test), *common, "--svm-thresholds", "4,9.5",
                            "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "ev" / "evaluate.json").read_text())
    assert 0 <= data["runs"]["naming_sum_test"][0] <= 1 and data["config"]["name_neurons"]["mode"] == "paper"
    assert list((tmp_path / "cache").glob("snn-*.npz"))
    r = runner.invoke(app, ["naming", "shots", str(train), str(test), *common, "--runs", "4",
                            "--svm-weights", str(tmp_path / "w"), "--out", str(tmp_path / "sh")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "sh" / "shots.json").read_text())
    assert len(data["runs"]["naming"]) == 4 and len(data["runs"]["svm"]) == 4
    assert (tmp_path / "sh" / "shots.cdf.png").exists()
    r = runner.invoke(app, ["naming", "shots", str(train), str(test), *common, "--shots", "99"])
    assert r.exit_code == 2 and "smallest class" in r.output
    r = runner.invoke(app, ["naming", "shots", str(train), str(test), *common, "--runs", "1", "--novelty", "500",
                            "--out", str(tmp_path / "sh2")])
    assert r.exit_code == 0 and "diverges" in r.output


def test_cli_bad_naming_input(tmp_path):
    train, test = lfw_folders(tmp_path, n=2)
    save_weights(random_weights(0), tmp_path / "w")
    runner = CliRunner()
    single = tmp_path / "single"
    (single / "only").mkdir(parents=True)
    Image.new("L", (30, 30)).save(single / "only" / "a.png")
    r = runner.invoke(app, ["naming", "features", str(single), "--weights", str(tmp_path / "w"), "--cache", str(tmp_path / "c")])
    assert r.exit_code == 2 and "single class" in r.output
    (train / "face" / "broken.jpg").write_bytes(b"not a jpeg")
    r = runner.invoke(app, ["naming", "features", str(train), "--weights", str(tmp_path / "w"), "--cache", str(tmp_path / "c")])
    assert r.exit_code == 2 and "broken.jpg" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["naming", "features", str(test), "--weights", str(tmp_path), "--cache", str(tmp_path / "c")])
    assert r.exit_code == 2 and "weight_0.npy" in r.output
    r = runner.invoke(app, ["naming", "features", str(test), "--weights", str(tmp_path / "w"), "--thresholds", "a,b"])
    assert r.exit_code == 2 and "thresholds" in r.output
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "b").mkdir()
    r = runner.invoke(app, ["naming", "features", str(empty), "--weights", str(tmp_path / "w")])
    assert r.exit_code == 2 and "no images" in r.output


def test_cli_reproduce_fetch_and_stdp_errors(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["reproduce", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "recollect data fetch caltech101" in r.output
    r = runner.invoke(app, ["data", "fetch", "caltech101", "--dest", str(tmp_path / "c"), "--no-download"])
    assert r.exit_code == 2 and "--archive" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["naming", "stdp", str(tmp_path), "--presentations", "1,2", "--out", str(tmp_path / "s")])
    assert r.exit_code == 2 and "three" in r.output


def test_cli_stdp_then_evaluate_in_corrected_mode(tmp_path):
    train, test = lfw_folders(tmp_path, n=4)
    runner = CliRunner()
    r = runner.invoke(app, ["naming", "stdp", str(train), "--presentations", "8,8,8", "--out", str(tmp_path / "s"),
                            "--checkpoint-every", "4"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s" / "weights" / "weight_4.npy").exists()
    assert json.loads((tmp_path / "s" / "stdp.json").read_text())["config"]["presentations"] == [8, 8, 8]
    r = runner.invoke(app, ["naming", "evaluate", str(train), str(test), "--weights", str(tmp_path / "s" / "weights"),
                            "--mode", "corrected", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "ev" / "evaluate.json").read_text())
    assert data["config"]["name_neurons"]["mode"] == "corrected" and len(data["config"]["validation_scores"]) == 12
    r = runner.invoke(app, ["naming", "shots", str(train), str(test), "--weights", str(tmp_path / "s" / "weights"),
                            "--mode", "corrected", "--runs", "3", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "sh")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "sh" / "shots.json").read_text())
    assert data["config"]["naming"]["mode"] == "corrected" and len(data["validation_scores"]) == 8
    r = runner.invoke(app, ["naming", "evaluate", str(train), str(test), "--weights", str(tmp_path / "s" / "weights"),
                            "--mode", "bogus", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "ev2")])
    assert r.exit_code == 2 and "paper or corrected" in r.output
