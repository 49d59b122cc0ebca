"""A model ready for recollection (:class:`LoadedModel`), built by name from the registry (``registry.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from .loaders import packaged_digits_weights
from .registry import DIGITS_MEAN, DIGITS_STD, IMAGENET_MEAN, IMAGENET_STD, get_model, list_models, register_model

__all__ = ["DIGITS_MEAN", "DIGITS_STD", "IMAGENET_MEAN", "IMAGENET_STD", "LoadedModel", "fit_image", "get_model",
           "list_models", "load_model", "packaged_digits_weights", "register_model"]


def fit_image(image: Image.Image, size: int, grey: bool = False) -> Tensor:
    """Resize the shorter side to ``size``, centre-crop, to a C×H×W tensor in [0, 1]."""
    image = image.convert("L" if grey else "RGB")
    w, h = image.size
    scale = size / min(w, h)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    image = image.resize(new, Image.Resampling.BILINEAR, reducing_gap=3.0)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    array = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


@dataclass
class LoadedModel:
    """A model ready for recollection: the network plus how to feed it."""

    name: str
    model: nn.Module
    classes: list[str]
    size: int  # input side: shorter side resized to it, then centre-cropped
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: str  # where the weights came from
    meta: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return len(self.mean)

    def to_pixels(self, image: Image.Image) -> Tensor:
        return fit_image(image, self.size, grey=self.channels == 1)

    def normalise(self, pixels: Tensor) -> Tensor:
        """Pixels in [0, 1] (C×H×W or N×C×H×W) to the network's input scale."""
        shape = (-1, 1, 1)
        return (pixels - torch.tensor(self.mean).view(shape)) / torch.tensor(self.std).view(shape)

    def mean_std(self) -> tuple[Tensor, Tensor]:
        return torch.tensor(self.mean), torch.tensor(self.std)

    def inputs(self, images: Sequence[str | os.PathLike | Image.Image]) -> Tensor:
        """Image files (decoded safely) or PIL images to the N×C×H×W tensor ``Recollector.perceive`` wants."""
        from ..data.images import load_image

        pictures = [im if isinstance(im, Image.Image) else load_image(im, shorter_side=self.size) for im in images]
        return self.normalise(torch.stack([self.to_pixels(p) for p in pictures]))


def load_model(name: str, weights: str | os.PathLike | None = None, *, random_init: bool = False,
               download_ok: bool = True) -> LoadedModel:
    """Build a registered model and load its weights (``random_init`` gives the random-weights control)."""
    spec = get_model(name)
    built = spec.load(weights, random_init=random_init, download_ok=download_ok)
    return LoadedModel(name, built.model.eval(), spec.class_names(), spec.size, spec.mean, spec.std, built.weights,
                       dict(built.meta or {}))
