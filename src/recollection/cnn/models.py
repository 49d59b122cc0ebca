"""A model ready for recollection (:class:`LoadedModel`), built by name from the registry (``registry.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import torch
from PIL import Image
from torch import Tensor, nn

from .inputs import Images, fit_image, to_pixels
from .loaders import packaged_digits_weights
from .registry import DIGITS_MEAN, DIGITS_STD, IMAGENET_MEAN, IMAGENET_STD, get_model, list_models, register_model

__all__ = ["DIGITS_MEAN", "DIGITS_STD", "IMAGENET_MEAN", "IMAGENET_STD", "LoadedModel", "fit_image", "get_model",
           "list_models", "load_model", "packaged_digits_weights", "register_model"]


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
        return self.preprocess(list(images))

    def pixels(self, images: Images) -> Tensor:
        """Any image(s) as the network sees them, before normalisation: N×C×H×W in [0, 1].

        Takes what :meth:`preprocess` takes; this is the picture a reconstruction is scored against.
        """
        return to_pixels(images, self.size, grey=self.channels == 1)[0]

    def preprocess(self, images: Images) -> Tensor:
        """Any image(s), prepared the model's way: the N×C×H×W tensor ``Recollector.perceive`` wants.

        The shorter side is resized to :attr:`size` (bilinear) and the centre cropped to a square,
        colour is converted to the model's channels (grey for ``digits``), and the pixels are
        normalised with the model's mean and std.

        Args:
            images: one image or a batch: a file or a folder of image files (decoded safely), a PIL
                image, a NumPy array (channels-last: H×W, H×W×C, N×H×W or N×H×W×C; ``uint8`` 0–255 or
                floats in [0, 1]), a tensor (channels-first: H×W, C×H×W or N×C×H×W; the same value
                ranges), or a list of any of these.

        Returns:
            An N×C×H×W float tensor, N = 1 for a single image.

        Raises:
            ImageError: a file cannot be read.
            OptionError: an array has a shape or value range that is not a picture (e.g. already
                normalised floats, or a channels-first NumPy array), said in one line.

        Examples:
            >>> info = rc.load_model("digits")
            >>> info.preprocess("seven.png").shape
            torch.Size([1, 1, 32, 32])
            >>> info.preprocess(np.zeros((5, 28, 28), np.uint8)).shape      # five MNIST-style digits
            torch.Size([5, 1, 32, 32])
            >>> rec = rc.Recollector(info.model, classes=info.classes)
            >>> result = rec(info.preprocess(Image.open("seven.png")), "class")
        """
        return self.normalise(self.pixels(images))

    def __repr__(self) -> str:
        shown = ", ".join(repr(c) for c in self.classes[:3]) + (", …" if len(self.classes) > 3 else "")
        return (f"LoadedModel({self.name!r}, {len(self.classes)} classes ({shown}), input "
                f"{self.channels}×{self.size}×{self.size}, mean={self.mean}, std={self.std}, weights={self.weights!r})")

def load_model(name: str, weights: str | os.PathLike | None = None, *, random_init: bool = False,
               download_ok: bool = True) -> LoadedModel:
    """Build a registered model and load its weights (``random_init`` gives the random-weights control)."""
    spec = get_model(name)
    built = spec.load(weights, random_init=random_init, download_ok=download_ok)
    return LoadedModel(name, built.model.eval(), spec.class_names(), spec.size, spec.mean, spec.std, built.weights,
                       dict(built.meta or {}))
