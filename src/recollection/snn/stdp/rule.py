"""The STDP learning rule (naming spec §3): its constants, and one presentation of one image.

What one presentation does, for the layer being learned (its layers below are fixed meanwhile):

* all neurons reset; for t = 1 … T − 1 the learning layer integrates the spikes its input emitted at
  step t − 1 with the *current* weights, with the integrate-and-fire step every engine shares
  (:func:`..kernels.integrate_and_fire`: non-leaky, reset of V > th before integrating, float64 sums
  stored as float32 potentials, per-position lateral inhibition, a position fires at most once);
* STDP at step t: ``valid = S·V·K`` (K: per (position, map) enable mask, all ones per image).
  ``mxv``/``mxi`` = max/argmax over maps. At most ``winners`` times while ``mxv`` has a non-zero:
  take its global maximum (first row of the row maxima, first column in that row), record a winner
  for map ``mxi`` there, zero ``mxv`` wherever ``mxi`` is that map and in the ±``offset`` window.
  A winner is cancelled if another winner within ±offset has a strictly larger potential (the
  selection makes that impossible, kept for fidelity). Each winner's kernel gets
  ``dw = n·a⁻·w(1−w) + n·a⁺·w(1−w) − a⁻·w(1−w)`` with ``n`` the number of spikes its input neuron
  emitted in steps 0 … t − 1 (so +a⁺·w(1−w) for one spike, −a⁻·w(1−w) for none); then K is cleared
  in the ±offset window for all maps and in the winner's whole map. Later steps of the same image
  already use the new weights.
* after presentation i (0-based, per layer) with ``i % 500 == 0``: ``a⁺ = min(2a⁺, 0.15)``,
  ``a⁻ = 0.75·a⁺``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ...errors import OptionError
from .. import kernels
from ..architecture import SPEC, Thresholds

Events = tuple[np.ndarray, np.ndarray]  # (offsets (T + 1,) int64, rows (n, 3) int32): see ..kernels
PER_LAYER = ("presentations", "thresholds", "winners", "offsets", "a_plus", "a_minus")


@dataclass(frozen=True)
class StdpConfig:
    """Every constant of STDP learning (defaults: the research code's, spec §3), one value per conv layer."""

    presentations: tuple[int, ...] = (3000, 5000, 6000)
    thresholds: tuple[float, ...] = SPEC.thresholds(learning=True)
    winners: tuple[int, ...] = (10, 4, 2)  # at most this many STDP winners per step
    offsets: tuple[int, ...] = (5, 2, 5)  # ± window each winner clears
    a_plus: tuple[float, ...] = (0.004, 0.0004, 0.0004)
    a_minus: tuple[float, ...] = (0.003, 0.0003, 0.0003)
    rate_every: int = 500  # after presentation i with i % rate_every == 0 …
    rate_factor: float = 2.0  # … a⁺ = min(rate_factor·a⁺, rate_cap)
    rate_cap: float = 0.15
    minus_ratio: float = 0.75  # … and a⁻ = minus_ratio·a⁺
    time_steps: int = 15
    init_mean: float = 0.8
    init_std: float = 0.01
    shuffle: bool = False  # False: cycle through the images in order; True: a seeded permutation per pass
    batch_size: int = 8  # images per forward pass when computing the fixed lower layers' spikes

    def __post_init__(self) -> None:
        for name in PER_LAYER:
            object.__setattr__(self, name, tuple(getattr(self, name)))
        lengths = {len(getattr(self, name)) for name in PER_LAYER}
        if len(lengths) != 1 or 0 in lengths:
            raise OptionError("StdpConfig needs one value per conv layer in each of " + ", ".join(
                f"{name} {getattr(self, name)}" for name in PER_LAYER))
        if any(p < 0 for p in self.presentations):
            raise OptionError(f"presentations must be ≥ 0; got {self.presentations}")
        if any(th <= 0 for th in self.thresholds):
            raise OptionError(f"STDP thresholds must be > 0 (winners are picked from S·V); got {self.thresholds}")
        if any(w < 0 for w in self.winners) or any(o < 0 for o in self.offsets):
            raise OptionError("winners and offsets must be ≥ 0")
        if self.rate_every < 1 or self.time_steps < 2:
            raise OptionError("rate_every must be ≥ 1 and time_steps ≥ 2")

    @property
    def layers(self) -> int:
        """How many conv layers this configuration describes."""
        return len(self.presentations)

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def network_thresholds(self) -> Thresholds | tuple[float, ...]:
        """The learning thresholds as the engines read them (a ``Thresholds`` for the spec's three layers)."""
        return Thresholds(*self.thresholds) if self.layers == 3 else self.thresholds

    def next_rates(self, index: int, a_plus: float, a_minus: float) -> tuple[float, float]:
        """Rates after presentation ``index`` (0-based) of a layer."""
        if index % self.rate_every == 0:
            a_plus = min(self.rate_factor * a_plus, self.rate_cap)
            a_minus = self.minus_ratio * a_plus
        return a_plus, a_minus


_NO_RECORD = np.zeros((1, 1, 1, 1), np.bool_)


def _checked(threshold: float) -> float:
    if not threshold > 0:  # step 0 is not simulated: a threshold ≤ 0 would fire there, silently missed
        raise OptionError(f"STDP presentations need a threshold > 0; got {threshold}")
    return float(threshold)


def present(events: Events, weight: np.ndarray, shape: tuple[int, int], threshold: float,
            window: int, winners: int, a_plus: float, a_minus: float) -> int:
    """One presentation of an image's input events (see the module's docstring); ``weight`` (C, K, K, M)
    float32 is updated in place. Returns the number of kernel updates."""
    offsets, rows = events
    return int(kernels.present_image(offsets, rows, weight, shape[0], shape[1], _checked(threshold), int(window),
                                     int(winners), float(a_plus), float(a_minus), _NO_RECORD))


def conv_spikes(events: Events, weight: np.ndarray, shape: tuple[int, int], threshold: float) -> np.ndarray:
    """A conv layer's spikes (T, M, H, W) bool for one image, event-driven, with the semantics of
    :mod:`..network` (IF, inhibition); ``weight`` (C, K, K, M) float32 is left unchanged."""
    offsets, rows = events
    out = np.zeros((len(offsets) - 1, weight.shape[3]) + tuple(shape), np.bool_)
    kernels.present_image(offsets, rows, weight, shape[0], shape[1], _checked(threshold), 0, 0, 0.0, 0.0, out)
    return out
