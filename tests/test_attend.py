"""Cue-based attention: selectivity on cases whose answer is known, the controls, the Captum peers,
the mixes, the pairs and ``recollect attend``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from recollection.attention.engine import Attender
from recollection.attention.measure import localisation, selectivity
from recollection.attention.mixes import mix_components, tile_cells
from recollection.attention.pairs import digit_pairs, draw_pairs, held_out
from recollection.attention.peers import PEERS, MissingDependency
from recollection.cli import app
from recollection.cnn.models import load_model, packaged_digits_weights
from recollection.errors import OptionError

SIDE = 8


def halves_model(weight: float = 1.0) -> nn.Module:
    """Two classes, linear: class 0 reads the left half of an 8×8 image, class 1 the right half."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 2, bias=False))
    w = torch.zeros(2, SIDE, SIDE)
    w[0, :, : SIDE // 2], w[1, :, SIDE // 2:] = weight, weight
    with torch.no_grad():
        model[1].weight.copy_(w.view(2, -1))
    return model


def half_components(n: int = 6, seed: int = 0) -> torch.Tensor:
    """N pairs: component 0 fills the left half, component 1 the right half (slightly noisy)."""
    g = torch.Generator().manual_seed(seed)
    c = torch.zeros(n, 2, 1, SIDE, SIDE)
    c[:, 0, :, :, : SIDE // 2] = 0.8
    c[:, 1, :, :, SIDE // 2:] = 0.8
    return (c + 0.02 * torch.rand(c.shape, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def digits():
    return load_model("digits")


@pytest.fixture(scope="module")
def drawn_pairs(digits):
    return digit_pairs("drawn-digits", 16, 0, digits.to_pixels)


# --- selectivity where the answer is known -----------------------------------------------------
@pytest.mark.parametrize("mix", ["max", "mean"])
def test_each_class_reading_its_own_half_gives_selectivity_near_its_maximum(mix):
    cues = torch.tensor([[0, 1]] * 6)
    result = Attender(halves_model())(half_components(), cues, mix=mix)
    assert result.selectivity.shape == (6,)
    assert np.all(result.selectivity > 1.9)  # the maximum is 2: r = 1 with its own half, −1 with the other
    assert np.all(np.diagonal(result.r, axis1=1, axis2=2) > 0.99) and np.all(result.r[:, 0, 1] < -0.9)


def test_swapped_cues_give_the_opposite_selectivity():
    result = Attender(halves_model())(half_components(), torch.tensor([[1, 0]] * 6))
    assert np.all(result.selectivity < -1.9)


def test_a_zero_last_layer_recalls_nothing_and_selectivity_is_zero():
    result = Attender(halves_model(weight=0.0))(half_components(), torch.tensor([[0, 1]] * 6))
    assert np.array_equal(result.selectivity, np.zeros(6)) and np.array_equal(result.r, np.zeros((6, 2, 2)))
    assert float(result.recalls.abs().max()) == 0.0


def test_selectivity_is_own_minus_other_averaged_over_cues():
    r = np.array([[[0.9, 0.1], [0.3, 0.5]]])
    assert selectivity(r) == pytest.approx([((0.9 - 0.1) + (0.5 - 0.3)) / 2])


# --- the digits model: the measurement itself and its controls ---------------------------------
def test_the_class_neuron_selects_without_normalisation_and_rescale_std_erases_it(digits, drawn_pairs):
    mixed = mix_components(drawn_pairs.components, "max")
    perception = Attender(digits.model, transform=digits.normalise).perceive(mixed)
    none = Attender(digits.model, transform=digits.normalise).attend(perception, drawn_pairs.labels)
    rescaled = Attender(digits.model, transform=digits.normalise, normalize="rescale_std").attend(perception, drawn_pairs.labels)
    assert none.selectivity.mean() > 0.1 and (none.selectivity > 0).mean() > 0.8
    assert abs(rescaled.selectivity.mean()) < 0.01


def test_one_forward_pass_serves_every_option_and_equals_attending_directly(digits, drawn_pairs):
    mixed = mix_components(drawn_pairs.components[:4], "max")
    attender = Attender(digits.model, transform=digits.normalise, normalize="std")
    shared = attender.attend(Attender(digits.model, transform=digits.normalise).perceive(mixed), drawn_pairs.labels[:4])
    direct = attender(drawn_pairs.components[:4], drawn_pairs.labels[:4], mix="max")
    assert torch.equal(shared.recalls, direct.recalls)


def test_a_zero_source_recalls_the_same_picture_for_every_cue(digits, drawn_pairs):
    result = Attender(digits.model, transform=digits.normalise, cue="zero")(drawn_pairs.components, drawn_pairs.labels)
    assert torch.equal(result.recalls[:, 0], result.recalls[:, 1])
    assert np.array_equal(result.selectivity, np.zeros(len(drawn_pairs)))


def test_a_random_class_control_avoids_both_cued_classes_and_loses_selectivity(digits, drawn_pairs):
    real = Attender(digits.model, transform=digits.normalise)(drawn_pairs.components, drawn_pairs.labels)
    control = Attender(digits.model, transform=digits.normalise, cue="random-class", seed=3)(
        drawn_pairs.components, drawn_pairs.labels)
    assert not bool((control.recalled[:, :, None] == drawn_pairs.labels[:, None, :]).any())
    assert control.selectivity.mean() < real.selectivity.mean() - 0.1
    again = Attender(digits.model, transform=digits.normalise, cue="random-class", seed=3)(
        drawn_pairs.components, drawn_pairs.labels)
    assert torch.equal(again.recalled, control.recalled)  # seeded


def test_upsample_unpooling_loses_the_localisation_that_the_switches_give(digits, drawn_pairs):
    switches = Attender(digits.model, transform=digits.normalise)(drawn_pairs.components, drawn_pairs.labels, mix="tile")
    upsample = Attender(digits.model, transform=digits.normalise, unpool="upsample")(
        drawn_pairs.components, drawn_pairs.labels, mix="tile")
    assert switches.energy_in_mask.mean() > upsample.energy_in_mask.mean() + 0.1
    assert switches.pointing.mean() > upsample.pointing.mean()
    superimposed = Attender(digits.model, transform=digits.normalise)(drawn_pairs.components, drawn_pairs.labels)
    assert superimposed.pointing is None and superimposed.scores(0)["energy_in_mask"] is None


def test_random_weights_lose_selectivity(drawn_pairs):
    random = load_model("digits", random_init=True)
    result = Attender(random.model, transform=random.normalise)(drawn_pairs.components, drawn_pairs.labels)
    assert abs(result.selectivity.mean()) < 0.05


# --- localisation ---------------------------------------------------------------------------------
def test_pointing_and_energy_fraction_on_constructed_recalls():
    masks = torch.zeros(1, 2, 4, 4, dtype=torch.bool)
    masks[0, 0, :, :1], masks[0, 1, :, 2:] = True, True  # cue 0: the first column; cue 1: the right half
    recalls = torch.zeros(1, 2, 1, 4, 4)
    recalls[0, 0, 0, 1, 0] = 1.0  # cue 0: its peak in its own cell
    recalls[0, 1, 0, 1, 1] = 1.0  # cue 1: its peak outside its cell
    pointing, energy = localisation(recalls, masks)
    assert pointing[0] == pytest.approx(0.5)
    # squared deviations from the mean 1/16: (15/16)² at the peak, (1/16)² at each of the 15 others
    assert energy[0] == pytest.approx((228 / 240 + 8 / 240) / 2)


def test_a_constant_recall_points_nowhere():
    masks = torch.ones(1, 2, 4, 4, dtype=torch.bool)
    pointing, energy = localisation(torch.full((1, 2, 1, 4, 4), 0.3), masks)
    assert pointing[0] == 0.0 and energy[0] == 0.0


# --- mixes ---------------------------------------------------------------------------------------
def test_mixes_superimpose_or_tile_into_disjoint_cells():
    a, b = torch.rand(2, 1, 1, 1, 32, 32).unbind(0)
    components = torch.cat([a, b], dim=1)
    assert torch.equal(mix_components(components, "max").pixels, torch.maximum(a, b)[:, 0])
    assert torch.allclose(mix_components(components, "mean").pixels, ((a + b) / 2)[:, 0])
    tiled = mix_components(components, "tile")
    assert tiled.pixels.shape == (1, 1, 32, 32) and not bool((tiled.masks[0, 0] & tiled.masks[0, 1]).any())
    outside = ~tiled.masks[0, 0]
    assert float(tiled.placed[0, 0, 0][outside].abs().max()) == 0.0  # each component stays in its cell
    assert tile_cells(2, 32, 32) == [(8, 0, 16), (8, 16, 16)]
    with pytest.raises(OptionError, match="unknown mix"):
        mix_components(components, "sum")
    with pytest.raises(OptionError, match="at least 2 components"):
        mix_components(components[:, :1], "max")


def test_cues_must_differ_and_fit_the_model():
    with pytest.raises(OptionError, match="same class"):
        Attender(halves_model())(half_components(2), torch.tensor([[0, 0], [0, 1]]))
    with pytest.raises(OptionError, match="class indices"):
        Attender(halves_model())(half_components(2), torch.tensor([[0, 5], [0, 1]]))


# --- pairs ----------------------------------------------------------------------------------------
def test_pairs_have_different_classes_are_seeded_and_never_reuse_an_image():
    labels = np.arange(100) % 10
    pairs = draw_pairs(labels, np.arange(100), 30, seed=1)
    assert np.all(labels[pairs[:, 0]] != labels[pairs[:, 1]]) and len(np.unique(pairs)) == 60
    assert np.array_equal(pairs, draw_pairs(labels, np.arange(100), 30, seed=1))
    with pytest.raises(OptionError, match="only"):
        draw_pairs(labels, np.arange(100), 60, seed=1)


def test_mnist_pairs_come_from_the_images_the_model_never_trained_on(digits):
    mnist = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    if not mnist.is_dir():
        pytest.skip(f"{mnist} is absent: this test needs ../shared/data/mnist")
    card = packaged_digits_weights().with_suffix(".json")
    pool, why = held_out(card, 10_000)
    pairs = digit_pairs(str(mnist), 20, 0, digits.to_pixels, card)
    assert "held out" in why and set(pairs.indices.ravel()) <= set(pool.tolist())
    assert bool((pairs.labels[:, 0] != pairs.labels[:, 1]).all()) and pairs.components.shape == (20, 2, 1, 32, 32)
    assert digit_pairs(str(mnist), 20, 0, digits.to_pixels).indices.tolist() == pairs.indices.tolist()  # the default
    assert "unknown" in digit_pairs(str(mnist), 20, 0, digits.to_pixels, None).source


# --- the Captum peers ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(PEERS))
def test_captum_peers_run_on_the_same_pairs_with_the_same_measure(digits, drawn_pairs, method):
    pytest.importorskip("captum")
    result = Attender(digits.model, method=method, transform=digits.normalise)(drawn_pairs.components, drawn_pairs.labels)
    assert result.recalls.shape == drawn_pairs.components.shape and bool(torch.isfinite(result.recalls).all())
    assert np.isfinite(result.selectivity).all() and torch.equal(result.recalled, drawn_pairs.labels)
    if method == "deconvolution":
        assert result.selectivity.mean() > 0.05


def test_a_peer_takes_no_retrace_options(digits):
    with pytest.raises(OptionError, match="no retrace options"):
        Attender(digits.model, method="saliency", normalize="std")


def test_a_peer_without_captum_is_one_clear_error(digits, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(MissingDependency, match=r"pip install 'recollection\[attention\]'"):
        Attender(digits.model, method="saliency")
    Attender(digits.model)  # the recollection itself never needs it


# --- recollect attend --------------------------------------------------------------------------------
def write_digit(path: Path, digit: int) -> Path:
    from recollection.data.drawn import drawn_digits

    Image.fromarray(drawn_digits()[0][digit]).save(path)
    return path


def test_cli_attend_writes_the_mix_each_recall_and_the_scores_with_the_config(tmp_path):
    a, b = write_digit(tmp_path / "three.png", 3), write_digit(tmp_path / "zero.png", 0)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["attend", str(a), str(b), "--model", "digits", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "attend.json").read_text())
    assert record["config"]["normalize"] == "none" and record["config"]["mix"] == "max"
    assert [c["class"] for c in record["cues"]] == [3, 0]
    assert record["scores"]["selectivity"] > 0 and record["scores"]["pointing"] is None
    for cue in record["cues"]:
        assert (out / cue["png"]).exists()
    assert Image.open(out / "mix.png").size == (32, 32)
    tiled = CliRunner().invoke(app, ["attend", str(a), str(b), "--mix", "tile", "--classes", "3,0", "--out", str(out)])
    assert tiled.exit_code == 0, tiled.output
    assert json.loads((out / "attend.json").read_text())["scores"]["pointing"] is not None


def test_cli_attend_refuses_two_images_cued_with_the_same_class(tmp_path):
    a = write_digit(tmp_path / "three.png", 3)
    result = CliRunner().invoke(app, ["attend", str(a), str(a), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "share a class" in result.output
    named = CliRunner().invoke(app, ["attend", str(a), str(a), "--classes", "3", "--out", str(tmp_path / "out")])
    assert named.exit_code == 2 and "one per image" in named.output
