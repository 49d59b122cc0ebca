"""Feature sets by (weight set, thresholds): what every naming protocol reads.

A :class:`FeatureBank` hands out the train and test feature sets of one train/test pair under any
weight set and thresholds: extracted on demand from image folders (and cached on disk, keyed by
weights, thresholds and image files), or given explicitly (features computed elsewhere, another data
set: build it with :meth:`FeatureBank.from_sets`). A bank made from images also lists them
(:meth:`FeatureBank.images`: what groups are read for) and calibrates thresholds on its training images
(:meth:`FeatureBank.calibrate`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Mapping, Sequence

from ..data.folders import image_folder
from ..errors import OptionError, RecollectionError
from ..snn.features import FeatureSet, files_features
from ..snn.network import SpikingNetwork, Thresholds, load_weights
from .presets import resolve_weights

if TYPE_CHECKING:
    from .calibrate import Calibration, Target

Part = Literal["train", "test"]
Pair = tuple[FeatureSet, FeatureSet]
Loader = Callable[[str, Thresholds, str], FeatureSet]
FolderProgress = Callable  # folder_features' progress: (total, done) -> (advance by n)
Listing = tuple[Sequence[Path], Sequence[int], Sequence[str]]  # files, labels, classes


class FeatureBank:
    """Train/test feature sets by (weights, thresholds), each made once."""

    def __init__(self, load: Loader, memo: bool = True) -> None:
        self._load = load
        self._memo: dict | None = {} if memo else None
        self._images: dict[str, Listing] | None = None
        self._network: Callable[[str], SpikingNetwork] | None = None
        self._calibrations: dict[tuple[str, str], "Calibration"] = {}
        self.cache_dir: str | os.PathLike | None = None

    def features(self, weights: str, thresholds: Thresholds, part: Part) -> FeatureSet:
        if part not in ("train", "test"):
            raise OptionError(f"part must be train or test, not {part!r}")
        key = (str(weights), thresholds, part)
        if self._memo is None:
            return self._load(*key)
        if key not in self._memo:
            self._memo[key] = self._load(*key)
        return self._memo[key]

    def train(self, weights: str, thresholds: Thresholds) -> FeatureSet:
        return self.features(weights, thresholds, "train")

    def test(self, weights: str, thresholds: Thresholds) -> FeatureSet:
        return self.features(weights, thresholds, "test")

    def pair(self, weights: str, thresholds: Thresholds) -> Pair:
        return self.train(weights, thresholds), self.test(weights, thresholds)

    @classmethod
    def from_sets(cls, sets: Mapping[tuple[str, Thresholds], Pair]) -> "FeatureBank":
        """Feature sets computed elsewhere: {(weights, thresholds): (train, test)}."""

        def load(weights: str, thresholds: Thresholds, part: str) -> FeatureSet:
            pair = sets.get((weights, thresholds))
            if pair is None:
                known = ", ".join(f"{w} {t.conv1:g}/{t.conv2:g}" for w, t in sets)
                raise OptionError(f"no features for weights {weights} at {thresholds.conv1:g}/{thresholds.conv2:g} "
                                  f"(given: {known})")
            return pair[0] if part == "train" else pair[1]

        return cls(load)

    def images(self, part: Part) -> Listing:
        """(files, labels, classes) of a part, for banks made from images (groups and calibration read them)."""
        if self._images is None:
            raise OptionError("these features were given, not made from image folders: groups and calibrated "
                              "thresholds need the image files")
        return self._images[part]

    def network(self, weights: str) -> SpikingNetwork:
        if self._network is None:
            raise OptionError("these features were given, not made by a network: calibrated thresholds need one")
        return self._network(weights)

    def calibrate(self, weights: str, target: "Target") -> "Calibration":
        """Thresholds for ``target`` (svm, naming) calibrated on the training images only (cached)."""
        from .calibrate import calibrate_files

        key = (str(weights), target)
        if key not in self._calibrations:
            files, labels, _ = self.images("train")
            self._calibrations[key] = calibrate_files(self.network(weights), files, labels, target,
                                                      cache_dir=self.cache_dir)
        return self._calibrations[key]

    def calibrations(self) -> dict[str, dict]:
        """Every calibration made so far, for the results file: {"<weights> <target>": details}."""
        return {f"{Path(w).name} {target}": c.as_dict() for (w, target), c in self._calibrations.items()}

    @classmethod
    def from_folders(cls, train: str | os.PathLike, test: str | os.PathLike,
                     weights: Callable[[str], Path] = resolve_weights, cache_dir: str | os.PathLike | None = None,
                     device: str = "cpu", progress: Callable[[str], FolderProgress | None] | None = None,
                     memo: bool = True) -> "FeatureBank":
        """Features of a train/test image-folder pair (one sub-folder per class), extracted on demand.

        weights: turns a weight-set key into its directory (default: a directory, or a published name
            under the data root). progress: given a description, folder_features' progress callback.
        """
        listings = {}
        for part, folder in (("train", train), ("test", test)):
            files, labels, classes = image_folder(folder)
            if len(classes) < 2:
                raise RecollectionError(f"{folder} has a single class folder ({classes[0]}); naming needs at least two")
            listings[part] = (files, labels, classes)
        return cls.from_files(listings["train"], listings["test"], weights, cache_dir, device, progress, memo)

    @classmethod
    def from_files(cls, train: Listing, test: Listing, weights: Callable[[str], Path] = resolve_weights,
                   cache_dir: str | os.PathLike | None = None, device: str = "cpu",
                   progress: Callable[[str], FolderProgress | None] | None = None, memo: bool = True) -> "FeatureBank":
        """Features of train/test image lists ((files, labels, classes) each: a folder's, or a split of one)."""
        if list(train[2]) != list(test[2]):
            raise OptionError(f"train and test class folders differ: {train[2]} vs {test[2]}")
        listings: dict[str, Listing] = {"train": train, "test": test}
        networks: dict[str, SpikingNetwork] = {}

        def network(key: str) -> SpikingNetwork:
            if key not in networks:
                networks[key] = SpikingNetwork(load_weights(weights(key)))
            return networks[key]

        def load(key: str, thresholds: Thresholds, part: str) -> FeatureSet:
            label = f"{Path(key).name} {thresholds.conv1:g}/{thresholds.conv2:g} {part}"
            files, labels, classes = listings[part]
            return files_features(files, labels, list(classes), network(key), thresholds, cache_dir=cache_dir, device=device,
                                  progress=progress(label) if progress else None)

        bank = cls(load, memo)
        bank._images, bank._network, bank.cache_dir = listings, network, cache_dir
        return bank
