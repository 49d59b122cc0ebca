"""Reconstruction scores: standardised, finite, and sensitive to what they claim to measure."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from recollection.scores import (
    edge_map,
    pearson,
    score_reconstruction,
    specificity,
    standardise,
    to_grey,
)


def _smooth_image(height: int = 32, width: int = 40, seed: int = 0) -> np.ndarray:
    """A 3×H×W image with structure at several scales."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.sin(6 * x) * np.cos(4 * y) + 0.2 * rng.standard_normal((height, width))
    return np.stack([base, 0.5 * base + x, base - y])


def _assert_identical_scores(scores: dict[str, float]) -> None:
    assert scores["pearson"] == pytest.approx(1.0)
    assert scores["ssim"] == pytest.approx(1.0)
    assert scores["psnr"] == 100.0


def test_to_grey_averages_channels_and_accepts_tensors() -> None:
    image = np.stack([np.zeros((4, 5)), np.ones((4, 5)), 2 * np.ones((4, 5))])
    grey = to_grey(torch.from_numpy(image).float())
    assert grey.dtype == np.float64 and grey.shape == (4, 5)
    assert np.allclose(grey, 1.0)
    assert to_grey(image[:1]).shape == (4, 5) and to_grey(image[0]).shape == (4, 5)
    with pytest.raises(ValueError, match="shape"):
        to_grey(np.zeros((2, 4, 5)))


def test_standardise_constant_gives_zeros() -> None:
    assert np.array_equal(standardise(np.full((3, 3), 0.1)), np.zeros((3, 3)))
    z = standardise(np.arange(10.0))
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)


def test_identical_images() -> None:
    image = _smooth_image()
    scores = score_reconstruction(image, image.copy())
    _assert_identical_scores(scores)
    assert all(type(value) is float for value in scores.values())
    json.dumps(scores, allow_nan=False)


def test_negative_gives_minus_one() -> None:
    image = _smooth_image()
    assert pearson(image, -image) == pytest.approx(-1.0)
    assert score_reconstruction(image, 1 - image)["pearson"] == pytest.approx(-1.0)


def test_scale_and_offset_invariance() -> None:
    image = _smooth_image()
    _assert_identical_scores(score_reconstruction(image, 3 * image + 7))
    tensor = torch.from_numpy(image)
    _assert_identical_scores(score_reconstruction(tensor, 3 * tensor + 7))


def test_noise_lowers_every_score() -> None:
    image = _smooth_image()
    noisy = image + np.random.default_rng(1).standard_normal(image.shape)
    scores = score_reconstruction(image, noisy)
    assert scores["pearson"] < 0.9 and scores["ssim"] < 0.9 and scores["psnr"] < 30


def test_larger_recalled_is_resized() -> None:
    image = _smooth_image(32, 40)
    doubled = np.repeat(np.repeat(image, 2, axis=1), 2, axis=2)
    scores = score_reconstruction(image, doubled)
    assert scores["pearson"] > 0.9
    assert scores["ssim"] > 0.5


def test_constant_images_give_no_nan() -> None:
    flat = np.full((3, 16, 16), 0.3)
    varied = _smooth_image(16, 16)
    for original, recalled in [(flat, flat), (flat, varied), (varied, flat)]:
        scores = score_reconstruction(original, recalled)
        assert not any(math.isnan(value) for value in scores.values())
        assert scores["pearson"] == 0.0
        json.dumps(scores, allow_nan=False)
    assert pearson(flat, varied) == 0.0


def test_small_images_adapt_the_ssim_window() -> None:
    image = _smooth_image(5, 6)
    assert score_reconstruction(image, image)["ssim"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="too small to score"):
        score_reconstruction(_smooth_image(2, 6), _smooth_image(2, 6))


def test_edge_pearson_rewards_edges() -> None:
    original = np.zeros((32, 32))
    original[8:24, 8:24] = 1.0
    edges = edge_map(original)
    assert edges[16, 16] == 0.0 and edges[8, 16] > 0.0
    edge_score = score_reconstruction(original, edges)["edge_pearson"]
    filled_score = score_reconstruction(original, original)["edge_pearson"]  # no outline
    flat_score = score_reconstruction(original, np.ones((32, 32)))["edge_pearson"]
    assert edge_score == pytest.approx(1.0)
    assert edge_score > filled_score
    assert flat_score == 0.0


def test_specificity_is_symmetric() -> None:
    a, b = _smooth_image(seed=0), _smooth_image(seed=1)
    assert specificity(a, b) == pytest.approx(specificity(b, a))
    assert specificity(a, a) == pytest.approx(1.0)
    assert specificity(a, b) < 0.999


def test_pearson_rejects_different_sizes() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        pearson(np.zeros((4, 4)), np.zeros((5, 4)))
