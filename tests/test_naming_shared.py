"""The published numbers, from ../shared: features of the published weights and the naming experiments."""

from __future__ import annotations

import pytest

from conftest import shared_path
from recollection.naming.presets import RUN61_NAMING, UPSTREAM_NAMING, DataRoot
from recollection.naming.reproduce import Reproduction


@pytest.fixture(scope="module")
def rep(tmp_path_factory):
    data = shared_path("data", "caltech_face_motor", "TrainingSet").parents[1]
    shared_path("data", "sdnn_weights", "run61")
    return Reproduction(DataRoot.find(data), tmp_path_factory.mktemp("cache"))


def test_svm_on_run61_features(rep):
    row = rep.svm_full()
    assert row.detail["test"] == pytest.approx(390 / 396)  # the paper's 0.9848, image for image
    assert row.ok


def test_naming_with_run61_and_upstream_weights(rep):
    row = rep.naming_full("run61", RUN61_NAMING, 0.575, 0.9848, 0.958)
    assert row.ok and abs(row.detail["train"] - 0.958) <= 0.01
    row = rep.naming_full("upstream", UPSTREAM_NAMING, 0.5, 0.957, None)
    assert row.detail["test"] == pytest.approx(379 / 396)  # exactly the paper's 0.9571


def test_the_research_codes_own_one_shot_pairs(rep):
    train = rep.features("run61", RUN61_NAMING, "TrainingSet")
    listed = rep.listed_pairs(train)
    if not listed:
        pytest.skip("../shared/reference/oneshot_naming_run61_lambda.txt is absent")
    row = rep.oneshot_run61(60, seed=0)
    ref = row.detail["reference_pairs"]
    assert ref["n"] == 480
    assert ref["identical"] >= 0.98 * ref["n"] and ref["mean_abs_diff"] <= 0.0005
    assert abs(row.detail["summary"]["mean"] - 0.718) <= 0.05
