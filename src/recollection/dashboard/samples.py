"""The images the dashboard offers by name; built once at start-up from known folders."""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
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
    """The naming data (Caltech faces / motorbikes, or a folder of your own): a few training and test
    images by name, and where the rest is."""

    train: Path
    test: Path
    weights: Path
    names: dict[str, Path]

    classes: list[str]
    sample_classes: dict[str, str] = field(default_factory=dict)  # sample name → its class
    custom: bool = False  # a folder of your own (--naming-data): thresholds calibrated on its training images

    def listing(self) -> dict:
        return {"train": [n for n in self.names if n.startswith("train-")],
                "test": [n for n in self.names if n.startswith("test-")], "classes": self.classes,
                "sample_classes": self.sample_classes, "folder": str(self.train.parent), "custom": self.custom}

    def picture(self, name: str) -> Callable[[], Image.Image] | None:
        path = self.names.get(name)
        return None if path is None else partial(_file, path)


def naming_samples(data_root: str | os.PathLike | None, naming_data: str | os.PathLike | None = None,
                   naming_weights: str | None = None) -> NamingSamples | None:
    """The Name panel's data: ``naming_data`` (a folder with TrainingSet/ and TestingSet/; its errors are
    raised: the user asked for it) or the shared Caltech folders (None when absent: the panel says so)."""
    from ..naming.presets import DEFAULT_WEIGHTS, WEIGHTS_DIR, DataRoot, resolve_weights

    if naming_data is not None:
        from ..naming.folders import folder_pair

        train, test = folder_pair(naming_data)
        weights = resolve_weights(naming_weights or DEFAULT_WEIGHTS, shared_data(data_root) if not (
            naming_weights and Path(naming_weights).is_dir()) else None)
        return _samples(train, test, weights, custom=True)
    root = shared_data(data_root)
    if root is None:
        return None
    data = DataRoot(root)
    train, test = data.folder("TrainingSet"), data.folder("TestingSet")
    weights = root / WEIGHTS_DIR / (naming_weights or DEFAULT_WEIGHTS)
    if not (train.is_dir() and test.is_dir() and (weights / "weight_0.npy").exists()):
        return None
    return _samples(train, test, weights)


def _samples(train: Path, test: Path, weights: Path, custom: bool = False) -> NamingSamples:
    from ..data.folders import image_folder

    names: dict[str, Path] = {}
    of_class: dict[str, str] = {}
    classes: list[str] = []
    for part, folder in (("train", train), ("test", test)):
        files, labels, classes = image_folder(folder)
        for c, cls in enumerate(classes):
            for path in [f for f, l in zip(files, labels) if l == c][:PER_CLASS]:
                name = f"{part}-{cls}-{Path(path).stem}"
                names[name], of_class[name] = Path(path), cls
    return NamingSamples(train, test, weights, names, classes, of_class, custom)
