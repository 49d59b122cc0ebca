"""Recall experiments: name neurons trained on a two-class folder pair, each name recalled back to the
DoG input through the spiking network, and scored (naming spec's network; the project's own result).

- similarity: the recalled DoG map's Pearson r with each class's mean DoG map over the test folder;
- the recall → perception loop: the recalled map, latency-coded like an image (its strongest pixels,
  as many as a typical image keeps), runs forward through the same network and the name neurons
  name it;
- training: the name neurons learn from the whole training folder, or from one image per class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.folders import image_folder
from ..scores import pearson
from ..errors import OptionError
from ..snn.encoding import DoGEncoder
from ..snn.features import FeatureSet, folder_features
from ..snn.network import SpikingNetwork, Thresholds, load_weights
from ..snn.recall import Recall, SpikingRecall, name_signal, perceive_cue
from .experiments import sample_shots
from .neurons import NameNeurons
from .presets import RULES, RUN61_NAMING, oneshot_rule


@dataclass
class RecallSetup:
    """A network, a train/test folder pair, their features, and the test set's class-mean DoG maps."""

    network: SpikingNetwork
    thresholds: Thresholds
    train: FeatureSet
    test: FeatureSet
    means: np.ndarray  # (classes, H, W)
    kept: int  # median number of input pixels an image keeps (≥ the DoG threshold)
    encoder: DoGEncoder

    @property
    def classes(self) -> list[str]:
        return self.train.classes


def mean_dogs(folder: str | os.PathLike, encoder: DoGEncoder) -> tuple[np.ndarray, int]:
    files, labels, classes = image_folder(folder)
    label_array = np.asarray(labels)
    dogs = np.stack([encoder.dog(encoder.grey(f)) for f in files])
    kept = int(np.median((dogs > 0).sum(axis=(1, 2))))
    return np.stack([dogs[label_array == c].mean(axis=0) for c in range(len(classes))]), kept


def setup(train: str | os.PathLike, test: str | os.PathLike, weights: str | os.PathLike,
          thresholds: Thresholds = RUN61_NAMING, cache: str | os.PathLike | None = None) -> RecallSetup:
    network = SpikingNetwork(load_weights(weights))
    encoder = DoGEncoder()
    train_set = folder_features(train, network, thresholds, encoder, cache_dir=cache)
    test_set = folder_features(test, network, thresholds, encoder, cache_dir=cache)
    if train_set.classes != test_set.classes:
        raise OptionError(f"train and test class folders differ: {train_set.classes} vs {test_set.classes}")
    means, kept = mean_dogs(test, encoder)
    return RecallSetup(network, thresholds, train_set, test_set, means, kept, encoder)


def train_names(s: RecallSetup, training: str = "full", seed: int = 0, rule: str = "paper") -> NameNeurons:
    """Name neurons from the whole training folder, or from one seeded image per class (λ = 65), with
    the paper's rule or the corrected, surprise-gated one."""
    if rule not in RULES:
        raise OptionError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    if training == "full":
        return NameNeurons(**RULES[rule]).fit(s.train.potentials, s.train.labels)
    if training == "oneshot":
        index = sample_shots(s.train.labels, 1, 1, seed)[0]
        return NameNeurons(**oneshot_rule(rule)).fit(s.train.potentials[index], s.train.labels[index])
    raise OptionError(f"training must be full or oneshot, got {training!r}")


def loop_times(dog: np.ndarray, kept: int, encoder: DoGEncoder) -> np.ndarray:
    """The recalled map as the network's input: its ``kept`` strongest pixels, latency-coded."""
    flat = dog.ravel() / dog.max() * 255.0 if dog.max() > 0 else dog.ravel()
    strongest = np.zeros_like(flat)
    top = np.argsort(flat, kind="stable")[::-1][:kept]
    top = top[flat[top] > 1e-6]  # a floor far below any real drive (rank codes divide by the value)
    strongest[top] = flat[top]
    return encoder.latencies(strongest.reshape(dog.shape))


def name_recalled(s: RecallSetup, names: NameNeurons, dog: np.ndarray) -> int:
    from ..snn.events import forward_events

    times = loop_times(dog, s.kept, s.encoder)[None]
    potentials = forward_events(s.network, times, s.thresholds, s.encoder.time_steps)
    return int(np.searchsorted(names.classes_, names.predict(potentials)[0]))


def score(s: RecallSetup, names: NameNeurons, recall: Recall, name: int) -> dict:
    r = [pearson(recall.dog, m) for m in s.means]
    own, other = r[name], max(v for k, v in enumerate(r) if k != name)
    named = name_recalled(s, names, recall.dog)
    return {"r_own": own, "r_other": other, "margin": own - other, "closer_to_own": float(own > other),
            "named": s.classes[named], "named_correctly": float(named == name)}


def recall_name(s: RecallSetup, names: NameNeurons, name: int, flavour: str = "rate", cue_image=None,
                keep: float = 0.2) -> Recall:
    """Recall class ``name``: from the name alone (spreading), or with a cue image (its switches)."""
    cue = None
    if cue_image is not None:
        cue = perceive_cue(s.network, s.encoder(cue_image), s.thresholds, s.encoder.time_steps)
    recaller = SpikingRecall(s.network, flavour, "switches" if cue is not None else "spread", keep=keep)
    shape = s.train.potentials.shape[2:]
    return recaller(name_signal(names.weights_, name, True, tuple(shape)), cue)


def mnist_folders(root: str | os.PathLike, mnist_dir: str | os.PathLike, digits: tuple[int, int] = (0, 1),
                  train: int = 200, test: int = 198) -> tuple[Path, Path]:
    """Two MNIST digits as train/test image folders (the first ``train`` of each digit in the idx file's
    order train, the next ``test`` test: the Caltech split sizes)."""
    from PIL import Image

    from ..data.digits import mnist

    root = Path(root)
    done = root / ".complete"
    if not done.exists():
        images, labels = mnist(mnist_dir)
        for digit in digits:
            members = np.flatnonzero(labels == digit)
            if len(members) < train + test:
                raise OptionError(f"MNIST has {len(members)} images of {digit}; {train + test} are needed")
            for part, chosen in (("TrainingSet", members[:train]), ("TestingSet", members[train : train + test])):
                folder = root / part / f"digit{digit}"
                folder.mkdir(parents=True, exist_ok=True)
                for k, i in enumerate(chosen):
                    Image.fromarray(images[i]).save(folder / f"{digit}_{k:03d}.png")
        done.write_text("ok\n")
    return root / "TrainingSet", root / "TestingSet"


def cue_for(s: RecallSetup, name: int, index: int = 0) -> str:
    """The ``index``-th test image of class ``name`` (a perceived cue)."""
    return s.test.paths[int(np.flatnonzero(s.test.labels == name)[index])]


def recall_picture(recall: Recall) -> np.ndarray:
    """The recalled DoG map and the image estimate side by side, H × 2W in [0, 1]."""
    dog = recall.dog / recall.dog.max() if recall.dog.max() > 0 else recall.dog
    return np.concatenate([dog, np.ones((dog.shape[0], 4)), recall.image], axis=1)


__all__ = ["RecallSetup", "setup", "train_names", "recall_name", "score", "mnist_folders"]
