"""The one-call Python API of the naming half: ``rc.naming.load()`` gives name neurons over a spiking
feature network, ready to name images.

    import recollection as rc

    namer = rc.naming.load()                      # run61 weights, the paper's thresholds and rule, Caltech TrainingSet
    naming = namer.name(["face.jpg", "bike.jpg"])  # paths, folders, PIL images, arrays; one or a batch
    naming.predicted, naming.scores                # the names, and each name neuron's score per image
    naming.plot_drive()                            # each name neuron's score over the time steps
    namer.score("…/TestingSet")                    # accuracy on a folder of class sub-folders

Every setting comes from ``presets.py`` (the published weights' thresholds and rules) and the
features from ``snn.features`` (cached on disk), so the numbers are those of ``recollect naming``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from PIL import Image

from ..errors import OptionError
from .presets import CALTECH, CORRECTED_RULE, DEFAULT_WEIGHTS, find_data_root, naming_preset, resolve_weights
from .presets import thresholds as make_thresholds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..snn.encoding import DoGEncoder
    from ..snn.features import FeatureSet
    from ..snn.network import SpikingNetwork, Thresholds
    from .neurons import NameNeurons

__all__ = ["NamingModel", "Naming", "load"]

RULE_NAMES = ("paper", "corrected")


def as_grey_picture(picture: Any) -> Image.Image:
    """A picture from ``cnn.inputs.pictures`` as the 8-bit image the spiking encoder reads."""
    if isinstance(picture, Image.Image):
        return picture
    chw = np.asarray(picture)  # float C×H×W in [0, 1]
    grey = chw[0] if chw.shape[0] == 1 else np.tensordot(np.array([0.299, 0.587, 0.114]), chw[:3], axes=1)
    return Image.fromarray(np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8))


@dataclass(repr=False)
class Naming:
    """What :meth:`NamingModel.name` returns. A single image gives single values (a name, a score row);
    a batch gives lists and arrays.

    Attributes:
        names: a name per image (the file name, else ``image i``).
        classes: the names the neurons know, in score order.
        over_time: (N, T, classes) each name neuron's cumulative score after every time step; the last
            step is the final score.
    """

    names: list[str]
    classes: list[str]
    over_time: np.ndarray
    single: bool
    title: str

    @property
    def scores(self) -> np.ndarray:
        """Each name neuron's final score: (classes,) for one image, (N, classes) for a batch."""
        final = self.over_time[:, -1, :]
        return final[0] if self.single else final

    @property
    def predicted(self) -> Any:
        """The winning name (ties: the first class), or a list of them."""
        names = [self.classes[int(k)] for k in np.argmax(self.over_time[:, -1, :], axis=1)]
        return names[0] if self.single else names

    def plot_drive(self, max_images: int = 6) -> "Figure":
        """Each name neuron's score over the time steps (as the spikes arrive), one panel per image.

        Returns:
            A ``matplotlib.figure.Figure``.
        """
        from ..api import short
        from ..plotting import drive_figure

        predicted = [self.classes[int(k)] for k in np.argmax(self.over_time[:, -1, :], axis=1)]
        return drive_figure(self.over_time, self.classes, [short(n) for n in self.names], predicted, self.title,
                            max_images)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"<Naming of {len(self)} image(s): {self.predicted!r}>"


class NamingModel:
    """Name neurons trained over a spiking network's conv3 potentials (what :func:`load` returns).

    Attributes:
        network: the STDP-trained feature network.
        thresholds: its conv1/conv2 firing thresholds.
        neurons: the fitted :class:`~recollection.naming.neurons.NameNeurons` (scikit-learn style).
        train: the training features (:class:`~recollection.snn.features.FeatureSet`).
        classes: the names, one per class folder of the training set.
        weights: the weight set's directory.
        rule: the name neurons' parameters.
    """

    def __init__(self, network: "SpikingNetwork", thresholds: "Thresholds", neurons: "NameNeurons",
                 train: "FeatureSet", weights: Path, rule: dict, encoder: "DoGEncoder",
                 cache: Path | None, device: str) -> None:
        self.network, self.thresholds, self.neurons, self.train = network, thresholds, neurons, train
        self.weights, self.rule, self.encoder, self.cache, self.device = weights, rule, encoder, cache, device

    @property
    def classes(self) -> list[str]:
        return list(self.train.classes)

    def potentials(self, images: Any) -> np.ndarray:
        """conv3 potentials over time (N, T, maps, H, W) of any image(s), as the network perceives them."""
        return self._perceive(images)[0]

    def _perceive(self, images: Any) -> tuple[np.ndarray, list[str]]:
        from ..cnn.inputs import pictures
        from ..snn.events import forward_events

        found, names = pictures(images)
        times = np.stack([self.encoder(as_grey_picture(p)) for p in found])
        return forward_events(self.network, times, self.thresholds, self.encoder.time_steps), names

    def name(self, images: Any) -> Naming:
        """Name image(s): a file or folder, a PIL image, an array or tensor, or a list of them.

        Returns:
            A :class:`Naming`: ``.predicted``, ``.scores``, ``.over_time``, ``.plot_drive()``.

        Examples:
            >>> namer = rc.naming.load()
            >>> namer.name("face.jpg").predicted
            'Face'
        """
        from ..cnn.inputs import is_batch

        potentials, names = self._perceive(images)
        over_time = self.neurons.scores_over_time(potentials)
        return Naming(names, [str(c) for c in self.classes], over_time, not is_batch(images),
                      f"name neurons over {self.weights.name} ({self.thresholds.conv1:g}/{self.thresholds.conv2:g}), "
                      f"{self.rule.get('mode', 'paper')} rule")

    def plot_drive(self, images: Any, max_images: int = 6) -> "Figure":
        """``name(images).plot_drive()``: each name neuron's score over the time steps."""
        return self.name(images).plot_drive(max_images)

    def score(self, folder: str | os.PathLike) -> float:
        """Accuracy on an image folder with the training set's class sub-folders (features cached)."""
        from ..snn.features import folder_features

        test = folder_features(folder, self.network, self.thresholds, self.encoder, cache_dir=self.cache,
                               device=self.device)
        if list(test.classes) != self.classes:
            raise OptionError(f"{folder}: class folders {', '.join(test.classes)} are not the training set's "
                              f"({', '.join(self.classes)})")
        return float(np.mean(self.neurons.predict(test.potentials) == test.labels))

    def __repr__(self) -> str:
        return (f"<NamingModel: {len(self.classes)} names ({', '.join(self.classes)}) over {self.weights.name} at "
                f"{self.thresholds.conv1:g}/{self.thresholds.conv2:g}, trained on {len(self.train)} images, "
                f"rule {self.rule}>")


def rule_params(rule: str | Mapping[str, Any], weights: Path) -> dict:
    """The name neurons' parameters: the paper's rule for the weight set (its init), the corrected
    rule, or the given parameters."""
    if isinstance(rule, Mapping):
        return dict(rule)
    if rule == "paper":
        return {"mode": "paper", **naming_preset(weights).rule()}
    if rule == "corrected":
        return dict(CORRECTED_RULE)
    raise OptionError(f"rule must be {' or '.join(RULE_NAMES)} (or a dict of NameNeurons parameters), not {rule!r}")


def load(weights: str | os.PathLike = DEFAULT_WEIGHTS, train: str | os.PathLike | None = None, *,
         rule: str | Mapping[str, Any] = "paper", thresholds: Sequence[float] | None = None,
         data: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
         device: str = "cpu") -> NamingModel:
    """Name neurons over a spiking feature network, trained on an image folder, in one call.

    Args:
        weights: a published weight set by name (``run61``, ``upstream``, ``svm_oneshot``, under
            ``DATA/sdnn_weights``) or a directory of ``weight_0..4.npy``.
        train: a folder with one sub-folder of images per class (default: the Caltech faces/motorbikes
            ``TrainingSet`` of the data).
        rule: ``"paper"`` (the research code's rule and the weight set's init), ``"corrected"`` (the
            depression bug fixed, surprise-gated), or a dict of
            :class:`~recollection.naming.neurons.NameNeurons` parameters.
        thresholds: (conv1, conv2) firing thresholds (default: the weight set's naming preset, e.g.
            7/20.25 for run61).
        data: the data folder (default ``$RECOLLECTION_DATA``, else ``../shared/data``).
        cache: where extracted features are cached (default ``~/.cache/recollection/snn``).
        device: where the network runs when features are not cached.

    Returns:
        A :class:`NamingModel`: ``.name(images)``, ``.plot_drive(images)``, ``.score(folder)``.

    Examples:
        >>> import recollection as rc
        >>> namer = rc.naming.load()                # run61, 7/20.25, paper rule, Caltech TrainingSet
        >>> namer.score(DATA / "caltech_face_motor" / "TestingSet")
        0.9848...
        >>> namer.name("face.jpg").plot_drive()
    """
    from ..snn.encoding import DoGEncoder
    from ..snn.features import default_cache, folder_features
    from ..snn.network import SpikingNetwork, load_weights
    from .neurons import NameNeurons

    root = find_data_root(data) if train is None or data is not None else None
    folder = Path(train) if train is not None else Path(root or ".") / CALTECH / "TrainingSet"
    weights_dir = resolve_weights(weights, root)
    chosen = make_thresholds(thresholds) if thresholds is not None else naming_preset(weights_dir).naming
    if chosen is None:  # naming_preset falls back to run61's, which has thresholds
        raise OptionError(f"no naming thresholds for {weights_dir}: pass thresholds=(conv1, conv2)")
    params = rule_params(rule, weights_dir)
    network = SpikingNetwork(load_weights(weights_dir))
    encoder = DoGEncoder()
    cache_dir = Path(cache) if cache is not None else default_cache()
    features = folder_features(folder, network, chosen, encoder, cache_dir=cache_dir, device=device)
    neurons = NameNeurons(**params).fit(features.potentials, features.labels)
    return NamingModel(network, chosen, neurons, features, weights_dir, params, encoder, cache_dir, device)
