"""The one-call Python API: rc.recollect / rc.compare on the embedded digits model, every input type,
the figures, and no change to the user's matplotlib backend."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import recollection as rc
from recollection.api import api_options, recollect
from recollection.errors import ImageError, OptionError

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def digits():
    """The drawn digits 0–9 as uint8 28×28 arrays (MNIST-style), and their labels."""
    from recollection.data.drawn import drawn_digits

    images, labels = drawn_digits()
    return images, [int(d) for d in labels]


@pytest.fixture(scope="module")
def seven_png(tmp_path_factory, digits):
    path = tmp_path_factory.mktemp("digits") / "seven.png"
    Image.fromarray(digits[0][7]).save(path)
    return path


def test_every_input_type_gives_the_pixels_of_the_file(digits, seven_png):
    """A path, a PIL image, a uint8 array, a float array and a tensor of the same digit recollect alike."""
    seven = digits[0][7]
    by_path = recollect(seven_png)
    assert by_path.single and by_path.predicted == "7"
    assert by_path.original.shape == by_path.image.shape == by_path.raw.shape == (1, 32, 32)
    assert set(by_path.scores) == {"pearson", "ssim", "psnr", "edge_pearson"}
    assert set(by_path.specificity) == {"random-class", "zero"}
    same = [recollect(Image.open(seven_png)), recollect(seven), recollect(torch.from_numpy(seven)),
            recollect(seven[..., None])]
    for result in same:
        assert torch.equal(result.original, by_path.original)
        assert torch.equal(result.raw, by_path.raw)
        assert result.scores == by_path.scores
    floats = [recollect(seven.astype(np.float32) / 255), recollect(torch.from_numpy(seven).float()[None] / 255)]
    for result in floats:  # resized in float: close to the 8-bit path, not rounded to it
        assert result.original.shape == (1, 32, 32)
        assert (result.original - by_path.original).abs().max() < 0.01
        assert result.predicted == "7"


def test_a_colour_picture_is_made_grey_the_models_way(digits):
    rgb = np.repeat(digits[0][3][..., None], 3, axis=2)
    grey = recollect(digits[0][3])
    assert torch.equal(recollect(rgb).original, grey.original)
    assert torch.allclose(recollect(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255).original, grey.original,
                          atol=0.01)


def test_batches_give_batches(digits, seven_png):
    images, labels = digits
    batch = recollect(images)  # N×H×W uint8: ten grey digits
    assert not batch.single and len(batch) == 10
    assert batch.original.shape == batch.image.shape == (10, 1, 32, 32)
    assert batch.predicted == [str(d) for d in labels]
    assert isinstance(batch.scores, list) and len(batch.scores) == 10
    assert batch.cascade[0].name == "source" and batch.cascade[0].value.shape[0] == 10
    tensor = recollect(torch.from_numpy(images[:, None]))  # N×1×H×W
    assert torch.equal(tensor.raw, batch.raw)
    listed = recollect([seven_png, Image.fromarray(images[2]), images[4]])
    assert listed.predicted == ["7", "2", "4"]
    assert listed.names[0] == str(seven_png) and listed.names[1:] == ["image 1", "image 2"]
    assert torch.allclose(listed.raw[1], batch.raw[2], atol=1e-5)  # batch sizes differ: float rounding
    folder = recollect(seven_png.parent)  # a folder: its image files
    assert not folder.single and folder.predicted == ["7"]


def test_single_image_values_match_the_batch_and_the_cascade_is_one_images(digits):
    single = recollect(digits[0][5])
    batch = recollect(digits[0][5:6])
    assert torch.equal(single.raw, batch.raw[0]) and single.scores == batch.scores[0]
    names = [m.name for m in single.cascade]
    assert names[0] == "source" and names[-1] == "conv1"
    assert single.cascade[0].value.shape == (10,) and single.cascade[-1].value.shape == (1, 32, 32)
    assert torch.equal(single.cascade[-1].value, single.raw)


def test_options_are_the_clis_and_checked_like_it(digits):
    from recollection.cli.recollect import RECONSTRUCT_OPTIONS

    assert list(api_options()) == list(RECONSTRUCT_OPTIONS)
    r = recollect(digits[0][1], source="layer:2", top=5, normalize=None, unpool="distribute", seed=3, view="minmax")
    assert r.config["source"] == "layer:2" and r.config["top"] == 5.0 and r.config["normalize"] == "none"
    assert set(r.config) == set(api_options())
    again = recollect(digits[0][1], **r.config)  # the config recollects the same way
    assert torch.equal(again.raw, r.raw)
    with pytest.raises(OptionError, match="did you mean 'normalize'"):
        recollect(digits[0][1], normalise="none")
    with pytest.raises(OptionError, match="normalize: expected one of"):
        recollect(digits[0][1], normalize="sideways")
    with pytest.raises(OptionError, match="positivise: expected true or false"):
        recollect(digits[0][1], positivise="false")
    with pytest.raises(OptionError, match="model: expected one of digits"):
        recollect(digits[0][1], model="vgg-nope")
    with pytest.raises(OptionError, match="top-P%"):
        recollect(digits[0][1], source="zero", top=5)


def test_the_engine_gives_what_the_one_call_gives(digits):
    """rc.recollect = preprocess + Recollector + the CLI pipeline's view: nothing else happens to the numbers."""
    info = rc.load_model("digits")
    x = info.preprocess(digits[0][:3])
    engine = rc.Recollector(info.model, classes=info.classes, normalize="none", wta=True)(x, "class")
    one_call = recollect(digits[0][:3], normalize="none", wta=True)
    assert torch.equal(engine.image, one_call.raw)


def test_a_source_object_and_a_loaded_model_are_accepted(digits):
    info = rc.load_model("digits")
    by_object = recollect(digits[0][2], info, rc.Source("layer", layer=2, top=10))
    by_text = recollect(digits[0][2], source="layer:2", top=10)
    assert torch.equal(by_object.raw, by_text.raw)
    with pytest.raises(OptionError, match="given twice"):
        recollect(digits[0][2], source=rc.Source("layer", layer=2, top=10), top=20)
    with pytest.raises(OptionError, match="with a model name"):
        recollect(digits[0][2], info, random_init=True)


def test_pictures_that_are_not_pictures_are_refused_in_one_line(digits, tmp_path):
    seven = digits[0][7]
    with pytest.raises(OptionError, match=r"float pixels must be in \[0, 1\]"):
        recollect((seven.astype(np.float32) - 50) / 30)  # already normalised
    with pytest.raises(OptionError, match="channels-first"):
        recollect(np.zeros((2, 3, 28, 28), np.uint8))  # NumPy arrays are channels-last
    with pytest.raises(OptionError, match="C = 1 or 3"):
        recollect(torch.zeros(5, 28, 28))
    with pytest.raises(OptionError, match="0–255"):
        recollect(seven.astype(np.int32) * 4)
    with pytest.raises(OptionError, match="NaN"):
        recollect(np.full((28, 28), np.nan, np.float32))
    with pytest.raises(OptionError, match="expected an image"):
        recollect(42)
    with pytest.raises(OptionError, match="empty list"):
        recollect([])
    with pytest.raises(ImageError, match="no such file"):
        recollect(tmp_path / "missing.png")


def test_plot_returns_a_figure_titled_with_source_and_scores(digits):
    from matplotlib.figure import Figure

    result = recollect(digits[0][4], source="zero")
    fig = result.plot()
    assert isinstance(fig, Figure)
    assert "zero" in fig._suptitle.get_text() and f"r = {result.scores['pearson']:.2f}" in fig._suptitle.get_text()
    assert len(fig.axes) == 2 + len(result.cascade) - 1  # original, recollection, the maps above the input
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # Jupyter shows it without pyplot
    batch = recollect(digits[0])
    fig = batch.plot(max_images=3)
    assert len(fig.axes) == 3 * (2 + len(batch.cascade) - 1) and "first 3 of 10" in fig._suptitle.get_text()


def test_compare_two_sources(digits):
    c = rc.compare(digits[0][:4], a={"source": "class"}, b={"source": "zero"}, normalize="none")
    assert c.labels == ("source=class", "source=zero")
    assert c.a.config["normalize"] == c.b.config["normalize"] == "none"
    assert len(c.similarity) == 4 and all(-1 <= s <= 1 for s in c.similarity)
    assert c.similarity[0] == pytest.approx(c.a.specificity[0]["zero"])  # the same r as the CLI's specificity
    assert set(c.scores) == {"source=class", "source=zero"}
    fig = c.plot()
    assert len(fig.axes) == 4 * 4
    single = rc.compare(digits[0][0], a={}, b={"unpool": "distribute"}, labels=("switches", "no switches"))
    assert isinstance(single.similarity, float) and single.labels == ("switches", "no switches")


def test_save_writes_what_the_cli_writes(digits, tmp_path):
    written = recollect(digits[0][:2]).save(tmp_path)
    assert [p.name for p in written] == ["image-0.json", "image-1.json"]
    record = json.loads(written[0].read_text())
    assert record["config"]["model"] == "digits" and "weights" in record["config"]
    assert (tmp_path / "image-0.recalled.png").exists() and np.load(tmp_path / "image-0.npy").shape == (1, 32, 32)


def test_loaded_model_repr_is_short_and_preprocess_batches():
    info = rc.load_model("alexnet", random_init=True)
    text = repr(info)
    assert len(text) < 300 and "1000 classes" in text and "3×224×224" in text and "tabby" not in text
    x = info.preprocess([np.zeros((300, 200, 3), np.uint8), torch.rand(3, 100, 120)])
    assert x.shape == (2, 3, 224, 224)
    pixels = info.pixels(np.full((10, 10), 255, np.uint8))  # grey to RGB, all white
    assert pixels.shape == (1, 3, 224, 224) and torch.allclose(pixels, torch.ones_like(pixels))


BACKEND_CHECK = """
import sys
import matplotlib
import recollection as rc
from recollection.data.drawn import drawn_digits

digit = drawn_digits()[0][1]
chosen = matplotlib.rcParams._get("backend")  # none chosen yet: matplotlib's "auto" sentinel
rc.recollect(digit).plot().savefig(sys.argv[1])
rc.compare(digit, a={}, b={"source": "zero"}).plot()
assert matplotlib.rcParams._get("backend") == chosen, (chosen, matplotlib.rcParams._get("backend"))
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
matplotlib.use("svg")  # the user's choice stays the user's
rc.recollect(digit).plot()._repr_png_()
print(matplotlib.get_backend())
"""


def test_plot_leaves_the_matplotlib_backend_alone(tmp_path):
    """In a fresh interpreter: no backend chosen before plotting, none after (and no pyplot); the user's
    choice unchanged."""
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run([sys.executable, "-c", BACKEND_CHECK, str(tmp_path / "fig.png")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert done.stdout.strip() == "svg"
