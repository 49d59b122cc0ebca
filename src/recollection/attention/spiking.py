"""The same question through the STDP network: a Caltech face and a motorbike superimposed, each name
neuron recalled with the switches of the *mixed* image (the ``--cue`` path of spiking recall). Is the
"Face" recall closer to the face's DoG map than to the motorbike's?

Switch sources: ``mix`` (the mixed image's: attention), ``own`` (each name with its own component's
switches: perception of that image alone, a reference) and ``none`` (spreading through the pools: no
image at all, a control whose recall is the same whatever the pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import OptionError
from ..scores import pearson
from .measure import own_and_other

if TYPE_CHECKING:
    from ..naming.neurons import NameNeurons
    from ..naming.recall import RecallSetup
    from ..snn.recall import Cue

SWITCHES = ("mix", "own", "none")
SPIKING_MIXES = ("max", "mean")


@dataclass
class SpikingAttention:
    """One pair: the mixed grey image, each component's DoG map, each name's recall and the scores."""

    mixed: np.ndarray  # (H, W) grey 0..255
    dogs: list[np.ndarray]  # per component (H, W)
    recalls: list[np.ndarray]  # per name: the recalled DoG map (H, W)
    r: np.ndarray  # K×K: r[a, b] = Pearson r(recall of name a, DoG map of component b)

    def scores(self) -> dict:
        """Selectivity and its parts; ``closer_k``: is name k's recall closer to its own component (1) or
        to the other (0) — name 0 is the first class of the test set (Face), name 1 the second (Motor)."""
        own, other = own_and_other(self.r[None])
        closer = {f"closer_{k}": float(self.r[k, k] > self.r[k, 1 - k]) for k in range(2)}
        return {"selectivity": float(own[0] - other[0]), "r_own": float(own[0]), "r_other": float(other[0]), **closer}


def class_pairs(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` (class 0 image, class 1 image) index pairs of a two-class set, seeded, no image twice."""
    rng = np.random.default_rng(seed)
    first, second = (rng.permutation(np.flatnonzero(labels == c)) for c in (0, 1))
    if n > min(len(first), len(second)):
        raise OptionError(f"the test set makes {min(len(first), len(second))} pairs without reusing an image; asked for {n}")
    return np.stack([first[:n], second[:n]], axis=1)


def attend_spiking(setup: RecallSetup, names: NameNeurons, paths: tuple[str, str], mix: str = "max", switches: str = "mix",
                   flavour: str = "rate", keep: float = 0.2) -> SpikingAttention:
    """Recall name k (k = 0, 1) from the mix of ``paths`` (an image of class 0, one of class 1)."""
    from ..snn.recall import SpikingRecall, name_signal, perceive_cue

    if mix not in SPIKING_MIXES:
        raise OptionError(f"unknown spiking mix {mix!r}; choose from {', '.join(SPIKING_MIXES)}")
    if switches not in SWITCHES:
        raise OptionError(f"unknown switches {switches!r}; choose from {', '.join(SWITCHES)}")
    encoder, network = setup.encoder, setup.network
    greys = [encoder.grey(p) for p in paths]
    mixed = np.maximum(*greys) if mix == "max" else (greys[0] + greys[1]) / 2.0
    dogs = [encoder.dog(g) for g in greys]

    def cue_of(grey: np.ndarray) -> Cue:
        return perceive_cue(network, encoder.latencies(encoder.dog(grey)), setup.thresholds, encoder.time_steps)

    cues: list[Cue | None] = ([cue_of(mixed)] * 2 if switches == "mix" else [cue_of(g) for g in greys]
                              if switches == "own" else [None, None])
    recaller = SpikingRecall(network, flavour, "spread" if switches == "none" else "switches", keep=keep)
    shape = tuple(setup.train.potentials.shape[2:])
    recalls = [recaller(name_signal(names.weights_, k, True, shape), cues[k]).dog for k in range(2)]
    r = np.array([[pearson(recalls[a], dogs[b]) for b in range(2)] for a in range(2)])
    return SpikingAttention(mixed, dogs, recalls, r)


def square(image: np.ndarray) -> np.ndarray:
    """An H×W map padded with zeros (centred) to a square, so that report cards keep its aspect."""
    h, w = image.shape
    side = max(h, w)
    out = np.zeros((side, side), dtype=float)
    top, left = (side - h) // 2, (side - w) // 2
    out[top:top + h, left:left + w] = image
    return out


def scaled(image: np.ndarray) -> np.ndarray:
    return image / image.max() if image.max() > 0 else image


def pictures(result: SpikingAttention) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Square pictures in [0, 1]: each component's DoG map, the mixed grey image, each name's recall."""
    return ([square(scaled(d)) for d in result.dogs], square(result.mixed / 255.0),
            [square(scaled(r)) for r in result.recalls])
