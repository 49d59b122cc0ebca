"""Pairs of digits of different classes for the attention measurements: MNIST images the embedded model
never trained on, or the project's own drawn digits (offline, no data files)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import OptionError

DRAWN = "drawn-digits"
EMBEDDED = "embedded"  # the embedded digits model's card


@dataclass
class Pairs:
    """``components`` N×2×C×H×W pixels in [0, 1] as the model sees them, their classes N×2, and where
    they came from (indices into the data set)."""

    names: list[str]
    components: Tensor
    labels: Tensor
    indices: np.ndarray  # N×2
    source: str

    def __len__(self) -> int:
        return len(self.names)


def held_out(weights_card: str | os.PathLike | None, n_images: int) -> tuple[np.ndarray, str]:
    """The indices the model never trained on (its card's ``test_indices``), else every image."""
    if weights_card is not None and Path(weights_card).exists():
        card = json.loads(Path(weights_card).read_text())
        if card.get("recipe", {}).get("dataset") == "mnist" and card.get("test_indices"):
            return np.asarray(card["test_indices"], dtype=np.int64), "held out from the model's training"
    return np.arange(n_images), "all images (the model's training split is unknown)"


def draw_pairs(labels: np.ndarray, pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` pairs of distinct images of different classes from ``pool``, seeded, no image used twice."""
    order = np.random.default_rng(seed).permutation(pool)
    candidates = order[: len(order) // 2 * 2].reshape(-1, 2)
    different = candidates[labels[candidates[:, 0]] != labels[candidates[:, 1]]]
    if len(different) < n:
        raise OptionError(f"only {len(different)} pairs of different classes can be drawn; asked for {n}")
    return different[:n]


def drawn_pairs(n: int, seed: int) -> np.ndarray:
    """``n`` ordered pairs of different drawn digits (at most 90), seeded."""
    ordered = np.array([(a, b) for a in range(10) for b in range(10) if a != b])
    if n > len(ordered):
        raise OptionError(f"the drawn digits make {len(ordered)} ordered pairs; asked for {n}")
    return ordered[np.random.default_rng(seed).permutation(len(ordered))[:n]]


def digit_pairs(images: str, n: int, seed: int, to_pixels: Callable[[Image.Image], Tensor],
                weights_card: str | os.PathLike | None = EMBEDDED) -> Pairs:
    """Pairs from an MNIST folder (idx .gz files) or ``drawn-digits``; ``to_pixels`` maps a PIL image to
    the model's C×H×W pixels (``LoadedModel.to_pixels``). MNIST pairs come from the images the model never
    trained on, read from ``weights_card`` (the JSON card beside its weights; by default the embedded
    digits model's; ``None``: every image, said so in ``Pairs.source``)."""
    if weights_card == EMBEDDED:
        from ..cnn.loaders import packaged_digits_weights

        weights_card = packaged_digits_weights().with_suffix(".json")
    if n < 1:
        raise OptionError(f"the number of pairs must be at least 1, got {n}")
    if images == DRAWN:
        from ..data.drawn import drawn_digits

        arrays, labels = drawn_digits()
        chosen, source = drawn_pairs(n, seed), "the project's drawn digits"
    else:
        from ..data.digits import mnist

        arrays, labels = mnist(images)
        pool, why = held_out(weights_card, len(labels))
        chosen, source = draw_pairs(labels, pool, n, seed), f"MNIST {images}, {why}"
    unique = np.unique(chosen)
    pixels = dict(zip(unique.tolist(), (to_pixels(Image.fromarray(arrays[i])) for i in unique)))
    components = torch.stack([torch.stack([pixels[a], pixels[b]]) for a, b in chosen.tolist()])
    names = [f"pair-{i:03d}" for i in range(len(chosen))]
    return Pairs(names, components, torch.from_numpy(labels[chosen].astype(np.int64)), chosen, source)
