"""The images the dashboard offers by name; built once at start-up from known folders."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from PIL import Image

PER_CLASS = 6  # naming samples shown per class and part


def _drawn(digit: int) -> Image.Image:
    from ..data.drawn import drawn_digit

    return Image.fromarray(drawn_digit(digit, 28))


def _file(path: Path) -> Image.Image:
    from ..data.images import load_image

    return load_image(path, shorter_side=256)


def shared_data(data_root: str | os.PathLike | None) -> Path | None:
    """The shared data folder (the one lookup of naming/presets.py), or None: the panels say so."""
    from ..naming.presets import CALTECH, DataError, find_data_root

    try:
        return find_data_root(data_root, needs=("images", CALTECH))
    except DataError:
        return None


def recollect_samples(data_root: str | os.PathLike | None) -> "OrderedDict[str, Callable[[], Image.Image]]":
    """Drawn digits (always), plus the shared photos when they are there."""
    samples: OrderedDict[str, Callable[[], Image.Image]] = OrderedDict(
        (f"digit-{d}", partial(_drawn, d)) for d in range(10))
    root = shared_data(data_root)
    if root is not None and (root / "images").is_dir():
        from ..data.images import image_files

        for path in image_files([root / "images"]):
            samples[f"photo-{path.name}"] = partial(_file, path)
    return samples


@dataclass
class NamingSamples:
    """Caltech faces / motorbikes: a few training and test images by name, and where the rest is."""

    train: Path
    test: Path
    weights: Path
    names: dict[str, Path]

    classes: list[str]

    def listing(self) -> dict:
        return {"train": [n for n in self.names if n.startswith("train-")],
                "test": [n for n in self.names if n.startswith("test-")], "classes": self.classes}

    def picture(self, name: str) -> Callable[[], Image.Image] | None:
        path = self.names.get(name)
        return None if path is None else partial(_file, path)


def naming_samples(data_root: str | os.PathLike | None) -> NamingSamples | None:
    root = shared_data(data_root)
    if root is None:
        return None
    from ..naming.presets import DEFAULT_WEIGHTS, WEIGHTS_DIR, DataRoot

    data = DataRoot(root)
    train, test = data.folder("TrainingSet"), data.folder("TestingSet")
    weights = root / WEIGHTS_DIR / DEFAULT_WEIGHTS
    if not (train.is_dir() and test.is_dir() and (weights / "weight_0.npy").exists()):
        return None
    from ..data.folders import image_folder

    names: dict[str, Path] = {}
    for part, folder in (("train", train), ("test", test)):
        files, labels, classes = image_folder(folder)
        for c, cls in enumerate(classes):
            for path in [f for f, l in zip(files, labels) if l == c][:PER_CLASS]:
                names[f"{part}-{cls}-{Path(path).stem}"] = Path(path)
    return NamingSamples(train, test, weights, names, classes)
