"""Name neurons: co-occurrence learning with novelty-modulated rates (naming spec §5).

One name neuron per class, connected to every conv3 neuron. While an image of class L is seen and its
name heard, the name neuron's back-propagating action potential potentiates its synapses from the
conv3 neurons active at that moment: ``W_L[A_t] += a⁺·W_L(1 − W_L)`` for every time slot t, and the
other name neurons depress theirs. To name an image, the neuron whose synapses carry the most current
wins.
"""

from __future__ import annotations

import random
import warnings
from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import OptionError
from .presets import PAPER_INIT

Mode = Literal["paper", "corrected"]
Readout = Literal["sum", "weighted"]


class DivergenceWarning(UserWarning):
    """a⁺ ≥ 1: an update can push a weight out of [0, 1], and learning diverges."""


def as_slots(potentials: np.ndarray) -> np.ndarray:
    """(N, T, maps, H, W) or (N, T, F) potentials over time, or (N, F): one time step → (N, T, F)."""
    potentials = np.asarray(potentials)
    if potentials.ndim == 2:
        return potentials[:, None, :]
    if potentials.ndim < 2:
        raise OptionError(f"name neurons need potentials (N, T, ...) or (N, features); got shape {potentials.shape}")
    return potentials.reshape(potentials.shape[0], potentials.shape[1], -1)


class NameNeurons(ClassifierMixin, BaseEstimator):
    """Co-occurrence-learning name neurons, scikit-learn style (``fit`` / ``predict``).

    ``X`` holds conv3 potentials over time (N, T, maps, H, W), e.g. ``FeatureSet.potentials``, or (N, T, F),
    or (N, F): one value per image and input neuron, read as a single time step.

    mode: ``paper`` reproduces the research code, quirks included: its depression line updates the
        label's own weights (so other name neurons never change), ties go to the first class.
        ``corrected`` depresses the other classes' weights, as the rule says.
    novelty: λ, the rate factor of the first ``novelty_window`` images presented (one-shot: λ = 65).
    rate: α, a factor on every image's rates (few-shot: α = 1 or 10, no novelty).
    inputs: ``neurons``: a synapse from every conv3 neuron (the paper); ``maps``: from one
        position-invariant unit per conv3 map, which fires while any neuron of its map is active (a
        global pool, like the network's own pools), so a name generalises across positions.
    surprise: rate factor for an image the name neurons currently misname (the label's score does not
        beat every other by ``margin`` × the largest score): a global "surprise" signal gating the local
        Hebbian update, as novelty does. 1 = off (the paper). With ``epochs`` > 1, later passes learn
        only from the images that are still misnamed.
    """

    def __init__(
        self,
        mode: Mode = "paper",
        init: float = PAPER_INIT,
        init_std: float = 0.05,
        seed: int = 66,
        a_plus: float = 0.007,
        a_minus: float = 0.003,
        novelty: float = 1.0,
        novelty_window: int = 5,
        rate: float = 1.0,
        active_threshold: float = 10.0,
        readout: Readout = "sum",
        shuffle_seed: int | None = 33,
        epochs: int = 1,
        surprise: float = 1.0,
        margin: float = 0.0,
        inputs: Literal["neurons", "maps"] = "neurons",
    ) -> None:
        self.mode = mode
        self.init = init
        self.init_std = init_std
        self.seed = seed
        self.a_plus = a_plus
        self.a_minus = a_minus
        self.novelty = novelty
        self.novelty_window = novelty_window
        self.rate = rate
        self.active_threshold = active_threshold
        self.readout = readout
        self.shuffle_seed = shuffle_seed
        self.epochs = epochs
        self.surprise = surprise
        self.margin = margin
        self.inputs = inputs

    def check_options(self) -> None:
        """Refuse unknown options; warn (:class:`DivergenceWarning`) when learning would diverge."""
        if self.mode not in ("paper", "corrected"):
            raise OptionError(f"mode must be 'paper' or 'corrected', not {self.mode!r}")
        if self.readout not in ("sum", "weighted"):
            raise OptionError(f"readout must be sum or weighted, not {self.readout!r}")
        if self.inputs not in ("neurons", "maps"):
            raise OptionError(f"inputs must be neurons or maps, not {self.inputs!r}")
        if self.epochs < 1 or self.novelty_window < 0:
            raise OptionError("epochs must be ≥ 1 and novelty_window ≥ 0")
        peak = self.a_plus * self.rate * max(self.novelty, 1.0)
        if peak >= 1:
            warnings.warn(
                f"a⁺ = {peak:.3g} ≥ 1 (λ = {self.novelty:g}, α = {self.rate:g}): an update can push weights "
                "out of [0, 1] and learning diverges", DivergenceWarning, stacklevel=3)

    def initial_weights(self, n_classes: int, n_features: int, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """N(init, init_std) per class, class 0 drawn first, from NumPy's legacy seeded generator
        (the research code's ``np.random.seed``), in its (H, W, maps) order."""
        rng = np.random.RandomState(self.seed)
        if shape is None:
            return np.stack([rng.normal(self.init, self.init_std, n_features) for _ in range(n_classes)])
        maps, h, w = shape
        return np.stack([rng.normal(self.init, self.init_std, (h, w, maps)).transpose(2, 0, 1).ravel()
                         for _ in range(n_classes)])

    def presentation_order(self, labels: np.ndarray) -> list[int]:
        """Images class by class (as the research code listed them), shuffled once with the seed."""
        order = sorted(range(len(labels)), key=lambda i: labels[i])
        if self.shuffle_seed is not None:
            random.Random(self.shuffle_seed).shuffle(order)
        return order

    def _inputs(self, X) -> np.ndarray:
        """What the name neurons' synapses read: every conv3 neuron, or one unit per map (``maps``)."""
        X = np.asarray(X)
        if self.inputs == "maps":
            if X.ndim != 5:
                raise OptionError("inputs='maps' needs potentials shaped (N, T, maps, H, W)")
            return X.max(axis=(3, 4), keepdims=True)
        return X

    def fit(self, X, y, map_shape: tuple[int, int, int] | None = None) -> "NameNeurons":
        self.check_options()
        X = self._inputs(X)
        potentials = as_slots(X)
        if map_shape is None and X.ndim == 5:
            map_shape = tuple(X.shape[2:])
        y = np.asarray(y)
        if len(y) != len(potentials):
            raise OptionError(f"{len(potentials)} images but {len(y)} labels")
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise OptionError("naming needs images of at least two classes")
        weights = self.initial_weights(len(self.classes_), potentials.shape[2], map_shape)
        active = potentials >= self.active_threshold
        with np.errstate(over="ignore", invalid="ignore"):  # divergence (a⁺ ≥ 1) was warned about above
            self._present(weights, active, labels, self._drive(potentials, active))
        self.weights_ = weights
        return self

    def _present(self, weights: np.ndarray, active: np.ndarray, labels: np.ndarray, drive: np.ndarray) -> None:
        shown = 0
        for epoch in range(self.epochs):
            order = self.presentation_order(labels)
            if epoch and self.shuffle_seed is not None:
                random.Random(self.shuffle_seed + epoch).shuffle(order)
            for i in order:
                factor = self.rate * (self.novelty if shown < self.novelty_window else 1.0)
                if self.surprise != 1.0 or epoch:
                    factor *= self.surprise if self._misnamed(weights, drive[i], labels[i]) else float(epoch == 0)
                if factor:
                    self._learn(weights, active[i], labels[i], self.a_plus * factor, self.a_minus * factor)
                shown += 1

    def _misnamed(self, weights: np.ndarray, drive: np.ndarray, label: int) -> bool:
        scores = weights @ drive
        rivals = np.delete(scores, label)
        return bool(scores[label] - rivals.max() <= self.margin * np.abs(scores).max())

    def _drive(self, potentials: np.ndarray, active: np.ndarray) -> np.ndarray:
        """What each conv3 neuron sends a name neuron over an image: its active slots (or potentials)."""
        if self.readout == "sum":
            return active.sum(axis=1, dtype=np.float64)
        return np.where(active, potentials, 0).sum(axis=1, dtype=np.float64)

    def _learn(self, weights: np.ndarray, active: np.ndarray, label: int, a_plus: float, a_minus: float) -> None:
        """One image: for every time slot, potentiate the label's synapses from the active neurons and
        depress the others' (paper mode: the label's own, the research code's bug)."""
        for slot in active:
            if not slot.any():
                continue
            for c in range(len(weights)):
                if c == label:
                    w = weights[c, slot]
                    weights[c, slot] = w + a_plus * w * (1 - w)
                else:
                    target = label if self.mode == "paper" else c
                    w = weights[target, slot]
                    weights[target, slot] = w - a_minus * w * (1 - w)

    def activity(self, X) -> np.ndarray:
        """Which inputs are active in each time slot (N, T, F): potential ≥ ``active_threshold``."""
        return as_slots(self._inputs(X)) >= self.active_threshold

    def drive(self, X) -> np.ndarray:
        """What each input sends the name neurons over a whole image (N, F): its active slots (``sum``)
        or its potentials in them (``weighted``). Needs no fitting: scoring many fits against one test
        set computes it once (``decision_function`` is ``drive(X) @ weights_.T``)."""
        potentials = as_slots(self._inputs(X))
        return self._drive(potentials, potentials >= self.active_threshold)

    def scores_over_time(self, X) -> np.ndarray:
        """Each name neuron's score so far, after every time step (N, T, classes): the drive of the
        slots up to t through the learnt weights. The last step is ``decision_function``."""
        check_is_fitted(self, "weights_")
        potentials = as_slots(self._inputs(X))
        active = potentials >= self.active_threshold
        sent = active.astype(np.float64) if self.readout == "sum" else np.where(active, potentials, 0).astype(np.float64)
        return np.cumsum(sent, axis=1) @ self.weights_.T

    def decision_function(self, X) -> np.ndarray:
        """Each name neuron's score (N, classes): Σ over slots of its weights from active neurons
        (``weighted``: each times the neuron's potential)."""
        check_is_fitted(self, "weights_")
        return self.drive(X) @ self.weights_.T

    def predict(self, X) -> np.ndarray:
        """The class whose name neuron scores highest (ties: the first class)."""
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """What a saved model holds: the parameters (JSON) and the learnt arrays (no pickle)."""
        check_is_fitted(self, "weights_")
        return self.get_params(), {"weights": np.asarray(self.weights_, np.float64), "classes": np.asarray(self.classes_)}

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> "NameNeurons":
        """The fitted name neurons back from :meth:`state`."""
        model = cls(**params)
        model.check_options()
        weights, classes = np.asarray(arrays["weights"], np.float64), np.asarray(arrays["classes"])
        if weights.ndim != 2 or len(weights) != len(classes) or len(classes) < 2:
            raise OptionError(f"name-neuron weights {weights.shape} do not fit {len(classes)} classes")
        model.weights_, model.classes_ = weights, classes
        return model
