"""Naming on a data set of your own: small images that silence conv2 are warned about and calibrated
thresholds fix them; groups; saved models; the pipeline; recall, studies and the Name panel on a folder."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from recollection.cli import app
from recollection.snn.network import random_weights, save_weights

CLASSES = ("disc", "square")


def shapes(root: Path, objects: range, views: int = 3, seed: int = 0) -> Path:
    """Small (64 × 64) grey pictures of discs and squares, ``views`` of each object (its own size,
    brightness and background; moved a little per view), named ``<class><object>_v<view>.png``. The
    encoder upscales them to 250 × 160, which leaves few DoG edges: conv2 stays silent at 10/50."""
    rng = np.random.default_rng(seed)
    for cls in CLASSES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for obj in objects:
            radius, fill, background = rng.integers(9, 16), int(rng.integers(170, 230)), int(rng.integers(80, 130))
            for view in range(views):
                img = Image.new("L", (64, 64), background)
                cx, cy = 32 + rng.integers(-6, 7), 32 + rng.integers(-6, 7)
                box = [cx - radius, cy - radius, cx + radius, cy + radius]
                (ImageDraw.Draw(img).ellipse if cls == "disc" else ImageDraw.Draw(img).rectangle)(box, fill=fill)
                pixels = np.clip(np.asarray(img, float) + rng.normal(0, 4, (64, 64)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / cls / f"{cls}{obj}_v{view}.png")
    return root


GROUPS = r"^([a-z]+\d+)_v"


@pytest.fixture(scope="module")
def byod(tmp_path_factory):
    """TrainingSet (objects 0–3) and TestingSet (objects 4–6) of small shapes, weights that silence conv2
    at the SVM's 10/50 on them, and a feature cache shared by the tests of this module."""
    root = tmp_path_factory.mktemp("byod")
    shapes(root / "data" / "TrainingSet", range(0, 4), seed=1)
    shapes(root / "data" / "TestingSet", range(4, 7), seed=2)
    save_weights(random_weights(0, mean=0.5, std=0.25), root / "w")
    return {"data": root / "data", "train": root / "data" / "TrainingSet", "test": root / "data" / "TestingSet",
            "weights": root / "w", "cache": root / "cache"}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_red_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output and len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_silent_conv2_is_warned_about_and_auto_thresholds_fix_it(byod, tmp_path):
    common = ("--weights", byod["weights"], "--cache", byod["cache"], "--naming-thresholds", "7,20.25")
    r = run("naming", "evaluate", byod["train"], byod["test"], *common, "--out", tmp_path / "fixed")
    assert r.exit_code == 0, r.output
    warning = [line for line in r.output.splitlines() if line.startswith("warning:") and "svm features" in line]
    assert len(warning) == 1 and "all-zero conv3 features" in warning[0] and "--svm-thresholds auto" in warning[0]
    data = json.loads((tmp_path / "fixed" / "evaluate.json").read_text())
    zero = data["diagnostics"]["zero_features"]
    assert zero["svm"] > 0.05 and zero["naming"] <= 0.05
    parts = data["diagnostics"]["feature_sets"]["svm"]["parts"]
    assert set(parts["train"]["zero_by_class"]) == set(CLASSES) and parts["train"]["spikes"]["conv2"] < 1.0
    assert data["runs"]["svm_test"] == [0.5]  # all-zero features: chance, which nothing else would have said

    r = run("naming", "evaluate", byod["train"], byod["test"], *common, "--svm-thresholds", "auto",
            "--out", tmp_path / "auto")
    assert r.exit_code == 0, r.output
    assert "warning: svm features" not in r.output
    data = json.loads((tmp_path / "auto" / "evaluate.json").read_text())
    assert data["diagnostics"]["zero_features"]["svm"] < 0.05
    calibrated = data["config"]["calibration"]["w svm"]
    assert data["config"]["svm_thresholds"]["conv2"] == calibrated["thresholds"][1] < 50
    assert calibrated["images"] == 24  # the training images only


def test_features_report_each_class_and_layer(byod):
    r = run("naming", "features", byod["train"], "--weights", byod["weights"], "--cache", byod["cache"])
    assert r.exit_code == 0, r.output
    for cls in CLASSES:
        line = next(line for line in r.output.splitlines() if line.strip().startswith(f"{cls}:"))
        assert "100.0% all-zero" in line and "conv2 0" in line and "input" in line
    assert "--thresholds auto" in r.output  # the warning says what to do
    r = run("naming", "features", byod["train"], "--weights", byod["weights"], "--cache", byod["cache"],
            "--thresholds", "auto")
    assert r.exit_code == 0 and "warning" not in r.output and "0.0% all-zero" in r.output, r.output


def test_bad_group_input_is_one_line_each(byod, tmp_path):
    common = ("--weights", byod["weights"], "--cache", byod["cache"], "--out", tmp_path / "x")
    assert "no capture group" in one_red_line(run("naming", "evaluate", byod["train"], byod["test"], *common,
                                                  "--groups", r"^[a-z]+\d+_v"))
    assert "matches none" in one_red_line(run("naming", "evaluate", byod["train"], byod["test"], *common,
                                              "--groups", r"^(obj\d+)__"))
    table = tmp_path / "groups.csv"
    table.write_text("file,group\nTrainingSet/disc/nowhere.png,a\n")
    assert "not among" in one_red_line(run("naming", "evaluate", byod["train"], byod["test"], *common,
                                           "--groups", table))
    one = tmp_path / "one"  # every disc is one object: a split needs two
    shapes(one / "TrainingSet", range(1), views=4)
    shapes(one / "TestingSet", range(1, 2), views=4)
    single = r"^(disc|square\d+)"
    line = one_red_line(run("naming", "splits", one / "TrainingSet", one / "TestingSet", *common, "--groups", single,
                            "--splits", "2", "--train-per-class", "2"))
    assert "single group" in line and "disc" in line


def test_grouped_shots_record_groups_and_score_on_unseen_groups(byod, tmp_path):
    r = run("naming", "shots", byod["data"] / "TrainingSet", byod["data"] / "TrainingSet", "--weights", byod["weights"],
            "--cache", byod["cache"], "--naming-thresholds", "auto", "--runs", "4", "--groups", GROUPS,
            "--out", tmp_path / "sh")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "sh" / "shots.json").read_text())
    assert data["config"]["groups"]["kind"] == "regex" and data["config"]["groups"]["groups"] == 8
    # the pair's two objects (3 views each) are left out of the test images: 24 - 2 × 3
    assert data["tested_images"] == [18] * 4 and "w naming" in data["config"]["calibration"]


def test_fit_save_load_predict_is_the_model_in_memory(byod, tmp_path):
    from recollection.naming.model import SavedNamer, fit_model, predict_folder
    from recollection.naming.neurons import NameNeurons
    from recollection.naming.svm import SpikeSVM

    path = tmp_path / "model.npz"
    r = run("naming", "fit", byod["train"], "--weights", byod["weights"], "--save", path, "--cache", byod["cache"],
            "--naming-thresholds", "auto", "--svm-thresholds", "auto", "--groups", GROUPS, "--mode", "corrected")
    assert r.exit_code == 0, r.output
    r = run("naming", "predict", byod["test"], "--model", path, "--out", tmp_path / "p.csv", "--cache", byod["cache"])
    assert r.exit_code == 0 and "accuracy on the class folders" in r.output, r.output
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == 18 and set(rows[0]) == {"file", "name", *CLASSES, "svm_name", "class"}
    memory, _ = fit_model(byod["train"], str(byod["weights"]), mode="corrected", thresholds="auto", svm_thresholds="auto",
                          groups=GROUPS, cache_dir=byod["cache"])
    loaded = SavedNamer.load(path)
    assert loaded.thresholds == memory.thresholds and loaded.classes == memory.classes
    expected = predict_folder(memory, byod["test"], cache_dir=byod["cache"])
    assert [r["name"] for r in rows] == expected.names and [r["svm_name"] for r in rows] == expected.svm
    assert np.allclose([[float(r[c]) for c in CLASSES] for r in rows], expected.scores, rtol=1e-5)
    # the estimators' own round trip
    X = np.random.default_rng(0).random((12, 3, 5)).astype(np.float32) * 20
    y = np.arange(12) % 2
    names = NameNeurons(mode="corrected").fit(X, y)
    assert np.array_equal(NameNeurons.from_state(*names.state()).predict(X), names.predict(X))
    svm = SpikeSVM().fit(X.max(axis=1), y)
    assert np.array_equal(SpikeSVM.from_state(*svm.state()).decision_function(X.max(axis=1)),
                          svm.decision_function(X.max(axis=1)))
    # a damaged model file, or weights that are not the model's: one line each
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    assert "not a naming model" in one_red_line(run("naming", "predict", byod["test"], "--model", tmp_path / "bad.npz"))
    other = tmp_path / "other"
    save_weights(random_weights(1, mean=0.5, std=0.25), other)
    assert "checksum" in one_red_line(run("naming", "predict", byod["test"], "--model", path, "--weights", other,
                                          "--out", tmp_path / "q.csv"))


def test_spike_svm_is_a_scikit_learn_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    from recollection.naming.svm import SpikeSVM

    check_estimator(SpikeSVM())


def test_name_neurons_take_one_time_step_as_a_matrix():
    from recollection.naming.neurons import NameNeurons

    rng = np.random.default_rng(1)
    X = rng.random((10, 30)) * 20
    y = np.arange(10) % 2
    flat, timed = NameNeurons().fit(X, y), NameNeurons().fit(X[:, None, :], y)
    assert np.array_equal(flat.weights_, timed.weights_)
    assert np.array_equal(flat.decision_function(X), timed.decision_function(X[:, None, :]))


def test_pipeline_on_one_folder_split_by_group(tmp_path):
    root = shapes(tmp_path / "objects", range(4), views=3, seed=3)
    out = tmp_path / "pipe"
    r = run("naming", "pipeline", root, "--groups", GROUPS, "--presentations", "12,12,12", "--runs", "3",
            "--validation-runs", "3", "--out", out, "--cache", tmp_path / "cache")
    assert r.exit_code == 0, r.output
    data = json.loads((out / "pipeline.json").read_text())
    assert data["layout"]["split"]["by"] == "groups" and data["shared_train_test_groups"] == 0
    assert data["groups"]["train_groups"] + data["groups"]["test_groups"] == 8 and data["weights"]["source"] == "stdp"
    assert (out / "stdp" / "weights" / "weight_4.npy").exists() and data["weights"]["presentations"] == [12, 12, 12]
    assert set(data["calibration"]) == {"weights naming", "weights svm"}
    assert len(data["one_shot"]["runs"]["naming_paper"]) == len(data["one_shot"]["runs"]["svm"]) == 3
    assert {"naming_paper", "naming_corrected", "svm"} <= set(data["full_data"])
    assert "naming" in data["diagnostics"]["zero_features"] and "svm" in data["diagnostics"]["zero_features"]
    text = (out / "summary.md").read_text()
    assert "| full data: test accuracy |" in text and "Groups: 8 groups" in text
    assert "<table>" in (out / "summary.html").read_text()


def test_recall_studies_and_the_name_panel_take_a_folder(byod, tmp_path):
    from recollection.dashboard.app import Dashboard

    r = run("recall", "--folder", byod["data"], "--weights", byod["weights"], "--cache", byod["cache"],
            "--out", tmp_path / "recall")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "recall" / "recall.json").read_text())
    assert data["config"]["dataset"] == "folder" and [x["name"] for x in data["recalls"]] == list(CLASSES)
    assert data["diagnostics"]["zero_features"]["naming"] < 0.05  # thresholds calibrated for naming

    board = Dashboard(naming_data=byod["data"], naming_weights=str(byod["weights"]))
    listing = json.loads(board.handle("GET", "/api/options").body)["naming"]
    assert listing["available"] and listing["classes"] == list(CLASSES)
    sample = listing["test"][0]
    named = json.loads(board.handle("POST", "/api/name", body=json.dumps({"image": {"sample": sample}}).encode()).body)
    assert named["predicted"] in CLASSES and named["warnings"] == []
    pair = [next(s for s in listing["train"] if listing["sample_classes"][s] == c) for c in CLASSES]
    taught = json.loads(board.handle("POST", "/api/teach", body=json.dumps(
        {"taught": [{"sample": s} for s in pair]}).encode()).body)
    assert 0 <= taught["accuracy"] <= 1 and taught["test_images"] == 18


def test_a_naming_study_reports_its_feature_diagnostics(byod, tmp_path):
    from recollection.experiments.report import write_report
    from recollection.experiments.runner import run_study
    from recollection.experiments.study import load_study

    study = tmp_path / "s.toml"
    study.write_text(f'[study]\nname = "byod"\nengine = "naming.shots"\nseed = 0\nrepeats = 2\n'
                     f'[data]\nroot = "{byod["data"]}"\ntrain = "TrainingSet"\ntest = "TestingSet"\n'
                     f'weights_dir = "{byod["weights"].parent}"\ncache = "{byod["cache"]}"\ngroups = \'{GROUPS}\'\n'
                     f'[params]\nweights = "w"\nsvm_weights = "w"\n')
    with pytest.warns(UserWarning, match="all-zero conv3 features"):
        assert run_study(load_study(study), tmp_path / "out", workers=1).failures == []
    saved = json.loads((tmp_path / "out" / "artifacts" / "diagnostics.json").read_text())
    assert saved["zero_features"]["w 10/50"] > 0.05
    html, md = write_report(tmp_path / "out")
    assert "Feature diagnostics" in Path(md).read_text() and "all-zero" in Path(html).read_text()
    study.write_text(study.read_text().replace(GROUPS, r"^[a-z]+"))
    from recollection.experiments.schema import StudyError

    with pytest.raises(StudyError, match="groups.*no capture group"):
        load_study(study)


def test_calibration_scales_the_corrected_grid_and_finds_the_published_thresholds_on_caltech():
    from recollection.naming.calibrate import calibrate_times, sample_index, scaled_grid
    from recollection.naming.presets import CORRECTED_THRESHOLDS, RUN61_NAMING

    assert scaled_grid(RUN61_NAMING) == CORRECTED_THRESHOLDS  # around the published centre: the published grid
    from conftest import shared_path

    train = shared_path("data", "caltech_face_motor", "TrainingSet")
    weights = shared_path("data", "sdnn_weights", "run61")
    from recollection.data.folders import image_folder
    from recollection.snn.encoding import DoGEncoder
    from recollection.snn.features import encode_files
    from recollection.snn.network import SpikingNetwork, load_weights

    files, labels, _ = image_folder(train)
    index = sample_index(labels, 40, seed=0)
    times = encode_files([files[i] for i in index], DoGEncoder())
    found = calibrate_times(SpikingNetwork(load_weights(weights)), times, "naming").thresholds
    assert 6 <= found.conv1 <= 8 and 16 <= found.conv2 <= 28  # inside the published grid around 7/20.25: from activity alone
