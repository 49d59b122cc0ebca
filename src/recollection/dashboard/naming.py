"""The Name panel's engine: the run61 spiking network, name neurons trained on the Caltech training
folder, naming one image step by step, and one-shot teaching scored on the test folder."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from ..io import figure_png
from ..naming.presets import ONESHOT_NOVELTY
from .render import data_uri, map_picture, png_bytes

if TYPE_CHECKING:
    from ..naming.recall import RecallSetup


class NamingState:
    def __init__(self, samples) -> None:
        from ..naming.diagnostics import diagnose
        from ..naming.neurons import NameNeurons
        from ..naming.presets import naming_preset
        from ..snn.encoding import DoGEncoder
        from ..snn.features import default_cache, folder_features
        from ..snn.network import SpikingNetwork, load_weights

        preset = naming_preset(samples.weights)  # run61: the paper's thresholds and rule
        self.network = SpikingNetwork(load_weights(samples.weights))
        preset_thresholds = preset.naming
        assert preset_thresholds is not None  # naming_preset always has naming thresholds
        self.thresholds = self.calibrated(samples) if samples.custom else preset_thresholds
        self.rule = preset.rule()
        self.encoder = DoGEncoder()
        self.train = folder_features(samples.train, self.network, self.thresholds, cache_dir=default_cache())
        self.test = folder_features(samples.test, self.network, self.thresholds, cache_dir=default_cache())
        self.neurons = NameNeurons(**self.rule).fit(self.train.potentials, self.train.labels)
        self.diagnostics = diagnose({"naming": (str(samples.weights), self.thresholds, {"train": self.train, "test": self.test})},
                                    calibrated=["naming"] if samples.custom else [])
        self.warnings = self.diagnostics.warnings()
        self.classes = self.train.classes
        self.test_folder = samples.test
        self._recall_setup: RecallSetup | None = None

    @staticmethod
    def calibrated(samples):
        """Naming thresholds calibrated on a folder of your own's training images (cached on disk)."""
        from ..naming.sources import FeatureBank
        from ..snn.features import default_cache

        bank = FeatureBank.from_folders(samples.train, samples.test, lambda w: samples.weights, default_cache())
        return bank.calibrate(str(samples.weights), "naming").thresholds

    def potentials(self, image: Image.Image) -> np.ndarray:
        """conv3 potentials over time (T, maps, H, W) of one image."""
        from ..snn.events import forward_events

        times = self.encoder(image)[None]
        return forward_events(self.network, times, self.thresholds, self.encoder.time_steps)[0]

    def name(self, image: Image.Image) -> dict:
        start = time.perf_counter()
        potentials = self.potentials(image)[None]
        active = self.neurons.activity(potentials)[0]  # (T, conv3 neurons)
        over_time = self.neurons.scores_over_time(potentials)[0]  # (T, classes)
        predicted = int(np.argmax(over_time[-1]))
        seen = self.encoder.grey(image) / 255.0  # what the network sees: grey, 250 × 160
        return {
            "image": data_uri(png_bytes(seen)),
            "predicted": self.classes[predicted],
            "scores": {c: over_time[-1, k] for k, c in enumerate(self.classes)},
            "over_time": {c: over_time[:, k].tolist() for k, c in enumerate(self.classes)},
            "active_neurons": int(active.any(axis=0).sum()), "neurons": int(active.shape[1]),
            "scores_plot": data_uri(scores_plot(over_time, self.classes)),
            "raster": data_uri(raster_plot(active)),
            "milliseconds": round((time.perf_counter() - start) * 1e3, 1),
            "thresholds": [self.thresholds.conv1, self.thresholds.conv2], "warnings": self.warnings,
        }

    def teach(self, pictures: list[Image.Image]) -> dict:
        """One image per class (in the classes' order), novelty-modulated (λ = 65), scored on the test set."""
        from ..naming.protocols import shots
        from ..snn.features import FeatureSet

        start = time.perf_counter()
        taught = FeatureSet(np.stack([self.potentials(p) for p in pictures]), np.arange(len(pictures)), self.classes,
                            [f"taught-{c}" for c in self.classes])
        result = shots([np.arange(len(pictures))], (taught, self.test), {**self.rule, "novelty": ONESHOT_NOVELTY})
        accuracy = result.naming[0]
        return {"accuracy": accuracy, "test_images": int(len(self.test)), "classes": self.classes,
                "milliseconds": round((time.perf_counter() - start) * 1e3, 1), "warnings": self.warnings}


    def recall(self, name: str, flavour: str, cue: bool) -> dict:
        """Recall a name back through the network to the DoG input (from the name alone, or with the
        switches of the first test image of the class), scored like ``recollect recall``."""
        from ..naming.recall import RecallSetup, cue_for, mean_dogs, recall_name, recall_picture, score
        from .errors import ClientError

        if name not in self.classes:
            raise ClientError(f"unknown name {name!r}; choose from {', '.join(self.classes)}")
        if flavour not in ("rate", "spikes"):
            raise ClientError(f"unknown flavour {flavour!r}; choose rate or spikes")
        start = time.perf_counter()
        if self._recall_setup is None:
            means, kept = mean_dogs(self.test_folder, self.encoder)
            self._recall_setup = RecallSetup(self.network, self.thresholds, self.train, self.test, means, kept, self.encoder)
        s = self._recall_setup
        c = self.classes.index(name)
        recalled = recall_name(s, self.neurons, c, flavour, cue_for(s, c) if cue else None)
        scores = score(s, self.neurons, recalled, c)
        return {
            "name": name, "flavour": flavour, "cue": cue, **scores,
            "picture": data_uri(png_bytes(recall_picture(recalled))),
            "cascade": [{"name": n, "image": data_uri(png_bytes(map_picture(torch.from_numpy(np.ascontiguousarray(v)))))}
                        for n, v in recalled.cascade],
            "milliseconds": round((time.perf_counter() - start) * 1e3, 1), "warnings": self.warnings,
        }


def scores_plot(over_time: np.ndarray, classes: list[str]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 3.0))
    ax = fig.subplots()
    for k, c in enumerate(classes):
        ax.plot(np.arange(over_time.shape[0]), over_time[:, k], marker="o", markersize=3, label=c)
    ax.set_xlabel("time step")
    ax.set_ylabel("name neuron score (cumulative)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_png(fig, dpi=90)


def raster_plot(active: np.ndarray) -> bytes:
    """conv3 neurons (y) against the time step (x) at which each first crosses the name neurons'
    activity threshold: its "spike" (conv3 integrates without firing at the feature thresholds)."""
    from matplotlib.figure import Figure

    ever = np.flatnonzero(active.any(axis=0))
    onset = active[:, ever].argmax(axis=0)
    order = np.argsort(onset, kind="stable")
    fig = Figure(figsize=(4.6, 3.0))
    ax = fig.subplots()
    ax.scatter(onset[order], np.arange(len(order)), s=14, marker="|", color="black")
    ax.set_xlim(-0.5, active.shape[0] - 0.5)
    ax.set_ylim(-1, max(1, len(order)))
    ax.set_xlabel("time step")
    ax.set_ylabel("conv3 neuron (by onset)")
    ax.set_title(f"{len(ever)} of {active.shape[1]} conv3 neurons cross the activity threshold", fontsize=9)
    fig.tight_layout()
    return figure_png(fig, dpi=90)
