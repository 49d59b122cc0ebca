"""Your own data set on disk: where the learning, training and test images are.

A data root is either

- a folder with ``TrainingSet/`` and ``TestingSet/`` (one sub-folder per class each; the names are
  matched without case, ``train``/``test`` work too) and optionally ``LearningSet/`` (the images STDP
  learns from, unlabelled: class sub-folders or the images themselves), the layout of the Caltech data;
- or one folder of class sub-folders, split for you into training and test images: seeded, stratified,
  and by group when groups are given (no object on both sides). STDP then learns from the training part.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.folders import image_folder
from ..data.images import IMAGE_SUFFIXES
from ..errors import RecollectionError
from .groups import Grouping, Groups, fraction_targets, group_split

ALIASES = {"learning": ("learningset", "learning", "learn", "unlabelled", "unlabeled"),
           "train": ("trainingset", "training", "train"),
           "test": ("testingset", "testing", "test")}
Listing = tuple[list[Path], list[int], list[str]]  # files, labels, classes


def find_part(root: Path, part: str) -> Path | None:
    """The sub-folder of ``root`` holding a part (its names matched without case)."""
    names = {p.name.lower(): p for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}
    return next((names[a] for a in ALIASES[part] if a in names), None)


def image_files(folder: Path) -> list[Path]:
    """Every image under a folder (its class sub-folders', or its own), sorted."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise RecollectionError(f"{folder} holds no images")
    return found


@dataclass
class Layout:
    """The learning (unlabelled), training and test images of a data root."""

    root: Path
    train: Listing
    test: Listing
    learning: list[Path] | None = None  # None: learn from the training images
    split: dict | None = None  # how the root was split for you, if it was
    groups: Groups | None = field(default=None, repr=False)

    @property
    def classes(self) -> list[str]:
        return self.train[2]

    def learning_files(self) -> list[Path]:
        return self.learning if self.learning is not None else list(self.train[0])

    def as_dict(self) -> dict:
        return {"root": str(self.root), "classes": self.classes, "train_images": len(self.train[0]),
                "test_images": len(self.test[0]),
                "learning": "LearningSet" if self.learning is not None else "the training images",
                "learning_images": len(self.learning_files()), "split": self.split}


def check_classes(listing: Listing, where: Path) -> Listing:
    if len(listing[2]) < 2:
        raise RecollectionError(f"{where} has a single class folder ({listing[2][0]}); naming needs at least two")
    return listing


def read_layout(root: str | os.PathLike, groups: str | None = None, seed: int = 0,
                test_fraction: float = 0.5) -> Layout:
    """The images of a data root (see the module's doc); ``groups`` (a regex or CSV, as ``--groups``)
    are read for every image, and a single folder is split by them."""
    root = Path(root)
    if not root.is_dir():
        raise RecollectionError(f"{root} is not a folder")
    train_dir, test_dir, learn_dir = (find_part(root, p) for p in ("train", "test", "learning"))
    if (train_dir is None) != (test_dir is None):
        have, lack = ("TrainingSet", "TestingSet") if train_dir is not None else ("TestingSet", "TrainingSet")
        raise RecollectionError(f"{root} has a {have} folder but no {lack}")
    grouping = Grouping.parse(groups) if groups is not None else None
    if train_dir is not None and test_dir is not None:
        train = check_classes(_listing(train_dir), train_dir)
        test = check_classes(_listing(test_dir), test_dir)
        if train[2] != test[2]:
            raise RecollectionError(f"{train_dir} and {test_dir} hold other class folders: {train[2]} vs {test[2]}")
        learning = image_files(learn_dir) if learn_dir is not None else None
        bound = grouping.bind(train[0] + test[0]) if grouping else None
        return Layout(root, train, test, learning, None, bound)
    if learn_dir is not None:
        raise RecollectionError(f"{root} has a LearningSet folder but no TrainingSet and TestingSet")
    if not 0.0 < test_fraction < 1.0:
        raise RecollectionError(f"the test fraction must be in (0, 1); got {test_fraction}")
    files, labels, classes = check_classes(_listing(root), root)
    bound = grouping.bind(files) if grouping else None
    train_idx, test_idx = split_listing(files, labels, classes, bound, seed, test_fraction)
    pick = lambda idx: ([files[i] for i in idx], [labels[i] for i in idx], classes)  # noqa: E731
    split = {"seed": seed, "test_fraction": test_fraction, "by": "groups" if bound else "images"}
    return Layout(root, pick(train_idx), pick(test_idx), None, split, bound)


def _listing(folder: Path) -> Listing:
    files, labels, classes = image_folder(folder)
    return list(files), list(labels), list(classes)


def split_listing(files: Sequence[Path], labels: Sequence[int], classes: Sequence[str], groups: Groups | None,
                  seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified (train, test) indices; whole groups when there are groups."""
    labels_arr = np.asarray(labels)
    ids = groups.of(files) if groups is not None else np.array([str(i) for i in range(len(files))], dtype=object)
    return group_split(labels_arr, ids, fraction_targets(labels_arr, 1.0 - test_fraction), np.random.default_rng(seed),
                       classes)


def folder_pair(root: str | os.PathLike) -> tuple[Path, Path]:
    """(TrainingSet, TestingSet) of a data root that has them (recall and the dashboard read these)."""
    root = Path(root)
    train, test = find_part(root, "train"), find_part(root, "test")
    if train is None or test is None:
        raise RecollectionError(f"{root} needs TrainingSet/ and TestingSet/ folders (one sub-folder per class each)")
    return train, test
