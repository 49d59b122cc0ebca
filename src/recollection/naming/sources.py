"""Feature sets by (weight set, thresholds): what every naming protocol reads.

A :class:`FeatureBank` hands out the train and test feature sets of one train/test pair under any
weight set and thresholds: extracted on demand from image folders (and cached on disk, keyed by
weights, thresholds and image files), or given explicitly (features computed elsewhere, another data
set: build it with :meth:`FeatureBank.from_sets`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Literal, Mapping

from ..errors import OptionError
from ..snn.features import FeatureSet, folder_features
from ..snn.network import SpikingNetwork, Thresholds, load_weights
from .presets import resolve_weights

Part = Literal["train", "test"]
Pair = tuple[FeatureSet, FeatureSet]
Loader = Callable[[str, Thresholds, str], FeatureSet]
FolderProgress = Callable  # folder_features' progress: (total, done) -> (advance by n)


class FeatureBank:
    """Train/test feature sets by (weights, thresholds), each made once."""

    def __init__(self, load: Loader, memo: bool = True) -> None:
        self._load = load
        self._memo: dict | None = {} if memo else None

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

    @classmethod
    def from_folders(cls, train: str | os.PathLike, test: str | os.PathLike,
                     weights: Callable[[str], Path] = resolve_weights, cache_dir: str | os.PathLike | None = None,
                     device: str = "cpu", progress: Callable[[str], FolderProgress | None] | None = None,
                     memo: bool = True) -> "FeatureBank":
        """Features of a train/test image-folder pair (one sub-folder per class), extracted on demand.

        weights: turns a weight-set key into its directory (default: a directory, or a published name
            under the data root). progress: given a description, folder_features' progress callback.
        """
        folders = {"train": Path(train), "test": Path(test)}
        networks: dict[str, SpikingNetwork] = {}

        def load(key: str, thresholds: Thresholds, part: str) -> FeatureSet:
            if key not in networks:
                networks[key] = SpikingNetwork(load_weights(weights(key)))
            label = f"{Path(key).name} {thresholds.conv1:g}/{thresholds.conv2:g} {part}"
            return folder_features(folders[part], networks[key], thresholds, cache_dir=cache_dir, device=device,
                                   progress=progress(label) if progress else None)

        return cls(load, memo)
