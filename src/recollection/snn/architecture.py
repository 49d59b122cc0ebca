"""The spiking network's architecture as data (naming spec §2): one spec per layer, read by every engine.

The dense time-batched path (:mod:`.network`), the event-driven engine (:mod:`.events`) and STDP
learning (:mod:`.stdp`) all walk the same :class:`Architecture`; none of them spells out a layer
sequence. ``SPEC`` is the published network: conv1 → pool1 → conv2 → pool2 → conv3.

Semantics shared by every engine: time steps 0 … T − 1; layer i reads layer i − 1's spikes of the step
before; all padding is ``kernel // 2`` (odd kernels), convolutions have stride 1. A conv layer holds
non-leaky integrate-and-fire neurons with lateral inhibition across its maps (at each position only the
map(s) with the highest potential fire, and a position fires at most once); the last conv layer only
integrates (its potentials are the network's output). A pool unit fires when any input of its window
fired the step before; with ``inhibition`` a position fires once, at its earliest step, in the maps that
reach it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, astuple, dataclass

from ..errors import OptionError

NEVER = 1e5  # a threshold no potential reaches: the layer only integrates


@dataclass(frozen=True)
class Conv:
    """A convolution of integrate-and-fire neurons; thresholds for STDP learning and for the features."""

    kernel: int
    maps: int
    learning_threshold: float
    feature_threshold: float
    name: str = "conv"


@dataclass(frozen=True)
class Pool:
    """A pool of spikes: a unit fires at t if any input of its window fired at t − 1."""

    kernel: int
    stride: int
    inhibition: bool
    name: str = "pool"


@dataclass(frozen=True)
class Architecture:
    """A feed-forward stack of :class:`Conv` and :class:`Pool` layers on a one-map spike input; it ends
    with a conv layer, whose potentials over time are the output."""

    layers: tuple[Conv | Pool, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers or not isinstance(self.layers[-1], Conv):
            raise OptionError("an architecture needs at least one layer and must end with a conv layer")
        for layer in self.layers:
            if not isinstance(layer, (Conv, Pool)):
                raise OptionError(f"layers are Conv or Pool specs; got {layer!r}")
            if layer.kernel < 1 or layer.kernel % 2 == 0:
                raise OptionError(f"{layer.name}: kernels are odd (padding kernel // 2); got {layer.kernel}")
            if isinstance(layer, Conv) and layer.maps < 1:
                raise OptionError(f"{layer.name}: needs at least one map; got {layer.maps}")
            if isinstance(layer, Pool) and layer.stride < 1:
                raise OptionError(f"{layer.name}: the stride must be ≥ 1; got {layer.stride}")

    @property
    def convs(self) -> tuple[Conv, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, Conv))

    def conv_positions(self) -> list[int]:
        """Index in ``layers`` of every conv layer."""
        return [i for i, layer in enumerate(self.layers) if isinstance(layer, Conv)]

    def maps(self) -> list[int]:
        """Maps of every layer's output (a pool keeps its input's)."""
        out, maps = [], 1
        for layer in self.layers:
            maps = layer.maps if isinstance(layer, Conv) else maps
            out.append(maps)
        return out

    def sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """H × W of every layer's output for an input of height × width."""
        out = []
        for layer in self.layers:
            if isinstance(layer, Pool):
                height, width = (pooled_size(n, layer.kernel, layer.stride) for n in (height, width))
            out.append((height, width))
        return out

    def weight_shapes(self) -> list[tuple[int, int, int, int]]:
        """(maps, in, k, k) of every conv layer's weights."""
        inputs = [1] + self.maps()[:-1]
        return [(layer.maps, inputs[i], layer.kernel, layer.kernel) for i, layer in enumerate(self.layers)
                if isinstance(layer, Conv)]

    def fires_once(self, index: int) -> bool:
        """Whether every neuron of layer ``index`` fires at most once (conv layers, inhibited pools)."""
        layer = self.layers[index]
        return isinstance(layer, Conv) or layer.inhibition

    def thresholds(self, values: Thresholds | Sequence[float] | None = None, learning: bool = False) -> tuple[float, ...]:
        """One threshold per conv layer: ``values`` checked against the conv count, or the specs' own."""
        if values is None:
            return tuple(c.learning_threshold if learning else c.feature_threshold for c in self.convs)
        values = tuple(float(v) for v in values)
        if len(values) != len(self.convs):
            raise OptionError(f"the network has {len(self.convs)} conv layers; got {len(values)} thresholds {values}")
        return values


def pooled_size(size: int, kernel: int, stride: int) -> int:
    """Output length of a pool (padding kernel // 2) over ``size`` inputs."""
    return math.floor((size + 2 * (kernel // 2) - kernel) / stride) + 1


SPEC = Architecture((
    Conv(5, 4, learning_threshold=10.0, feature_threshold=10.0, name="conv1"),
    Pool(7, 6, inhibition=True, name="pool1"),
    Conv(17, 20, learning_threshold=60.0, feature_threshold=50.0, name="conv2"),
    Pool(5, 5, inhibition=False, name="pool2"),
    Conv(5, 20, learning_threshold=2.0, feature_threshold=NEVER, name="conv3"),
))
_FEATURES = SPEC.thresholds()


@dataclass(frozen=True)
class Thresholds:
    """Firing thresholds of SPEC's conv1, conv2, conv3 (pools fire on any input spike); defaults: the
    feature-extraction thresholds. Iterates as one value per conv layer, as the engines read it."""

    conv1: float = _FEATURES[0]
    conv2: float = _FEATURES[1]
    conv3: float = _FEATURES[2]

    def as_dict(self) -> dict:
        return asdict(self)

    def __iter__(self) -> Iterator[float]:
        return iter(astuple(self))


FEATURE_THRESHOLDS = Thresholds(*SPEC.thresholds())  # the SVM's features (spec §4)
LEARNING_THRESHOLDS = Thresholds(*SPEC.thresholds(learning=True))  # STDP (spec §2)
