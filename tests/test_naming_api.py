"""rc.naming.load on the shared data: the paper's protocol in one call, naming any image type, the drive plot."""

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path

import recollection as rc
from recollection.errors import OptionError


@pytest.fixture(scope="module")
def data():
    return shared_path("data", "caltech_face_motor", "TrainingSet").parents[1]


@pytest.fixture(scope="module")
def namer(data):
    shared_path("data", "sdnn_weights", "run61")
    return rc.naming.load(data=data)


@pytest.fixture(scope="module")
def test_images(data):
    test = data / "caltech_face_motor" / "TestingSet"
    return sorted((test / "Face").iterdir())[:2] + sorted((test / "Motor").iterdir())[:2]


def test_load_is_the_papers_protocol(namer, data):
    from recollection.naming.presets import resolve_weights
    from recollection.naming.protocols import evaluate_mode
    from recollection.naming.sources import FeatureBank
    from recollection.snn.features import default_cache

    assert namer.classes == ["Face", "Motor"] and len(namer.train) == 400
    assert (namer.thresholds.conv1, namer.thresholds.conv2) == (7.0, 20.25)
    assert namer.rule == {"mode": "paper", "init": 0.575}
    test = data / "caltech_face_motor" / "TestingSet"
    accuracy = namer.score(test)
    assert accuracy == pytest.approx(390 / 396)  # the paper's 0.9848
    bank = FeatureBank.from_folders(data / "caltech_face_motor" / "TrainingSet", test,
                                    weights=lambda name: resolve_weights(name, data), cache_dir=default_cache())
    assert accuracy == evaluate_mode(bank, "run61", readouts=("sum",)).naming["sum"]["test"]
    assert "2 names (Face, Motor)" in repr(namer) and len(repr(namer)) < 300


def test_name_files_pictures_and_arrays_alike(namer, test_images):
    naming = namer.name(test_images)
    assert naming.predicted == ["Face", "Face", "Motor", "Motor"]
    assert naming.scores.shape == (4, 2) and naming.over_time.shape == (4, 15, 2)
    potentials = namer.potentials(test_images)
    assert np.allclose(naming.scores, namer.neurons.decision_function(potentials))  # the last step is the score
    one = namer.name(test_images[0])
    assert one.predicted == "Face" and one.scores.shape == (2,)
    assert np.array_equal(one.scores, naming.scores[0])
    picture = Image.open(test_images[2])
    assert np.array_equal(namer.name(picture).scores, naming.scores[2])
    grey = np.asarray(picture.convert("L"))
    assert np.array_equal(namer.name(grey).scores, naming.scores[2])  # an H×W uint8 array
    assert namer.name([picture, test_images[3]]).predicted == ["Motor", "Motor"]


def test_plot_drive_is_a_figure_per_image(namer, test_images):
    from matplotlib.figure import Figure

    fig = namer.name(test_images).plot_drive(max_images=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 3
    assert "first 3 of 4" in fig._suptitle.get_text()
    assert fig._repr_png_()[:4] == b"\x89PNG"


def test_other_rules_and_bad_ones(data):
    corrected = rc.naming.load(data=data, rule="corrected")
    assert corrected.rule["mode"] == "corrected" and corrected.neurons.surprise == 10.0
    custom = rc.naming.load(data=data, rule={"init": 0.5, "novelty": 3.0}, thresholds=(7.0, 20.25))
    assert custom.neurons.init == 0.5 and custom.neurons.novelty == 3.0
    with pytest.raises(OptionError, match="rule must be paper or corrected"):
        rc.naming.load(data=data, rule="sideways")
