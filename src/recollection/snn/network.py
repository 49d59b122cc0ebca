"""The spiking deep CNN of the naming spec (§2): non-leaky integrate-and-fire, one spike per neuron.

Each layer reads the previous layer's spikes of the step before, and the net is feed-forward, so a
layer's whole time course is computed at once: one batched convolution over all time steps (time as a
batch dimension), then an element-wise scan for the potentials, then lateral inhibition. The layers are
those of an :class:`.architecture.Architecture` (default ``SPEC``, the published network).

This dense path runs on any torch device and is the reference the event-driven engine (:mod:`.events`)
and STDP (:mod:`.stdp`) are checked against, bit for bit; they share one compiled integrate-and-fire
step (:func:`.kernels.integrate_and_fire`), which this path states again in vectorised form
(:func:`integrate`, :func:`first_spikes`) so that the tests compare two independent implementations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from .architecture import (  # noqa: F401  (re-exported: the public names of the network)
    FEATURE_THRESHOLDS,
    LEARNING_THRESHOLDS,
    NEVER,
    SPEC,
    Architecture,
    Conv,
    Pool,
    Thresholds,
)

# (kernel, maps) of the conv layers and (kernel, stride) of the pools of SPEC, in order
CONV_SHAPES = tuple((layer.kernel, layer.maps) for layer in SPEC.layers if isinstance(layer, Conv))
POOL_SHAPES = tuple((layer.kernel, layer.stride) for layer in SPEC.layers if isinstance(layer, Pool))
MAX_WEIGHT_BYTES = 16 * 2**20  # the largest layer (17 × 17 × 4 × 20 float64) is 0.2 MB


@dataclass
class Activity:
    """What one presentation produced: conv3 potentials over time, and optionally every layer's spikes."""

    potentials: torch.Tensor  # (B, T, maps, H, W) float32: conv3's V at every step
    spikes: list[torch.Tensor] | None = None  # the input and every layer below the last: (B, T, C, H, W) bool

    def max_features(self) -> torch.Tensor:
        """The SVM's features: each last-layer map's largest potential over space and time."""
        return self.potentials.amax(dim=(1, 3, 4))


def conv_increments(spikes: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Input current of every step: the correlation of the previous step's spikes, summed in float64.

    ``spikes`` is (B, T, C, H, W); the result (B, T − 1, M, H, W) holds the current reaching steps
    1 … T − 1, each from the step before. Steps without any input spike are skipped.
    """
    b, t, c, h, w = spikes.shape
    m, k = weight.shape[0], weight.shape[-1]
    flat = spikes[:, :-1].reshape(b * (t - 1), c, h, w)
    busy = flat.flatten(1).any(1).nonzero().squeeze(1)
    out = torch.zeros(b * (t - 1), m, h, w, dtype=torch.float64, device=spikes.device)
    if busy.numel():
        out[busy] = F.conv2d(flat[busy].double(), weight.double(), padding=k // 2)
    return out.view(b, t - 1, m, h, w)


def integrate(current: torch.Tensor, threshold: float) -> torch.Tensor:
    """Potentials (B, T, ...) float32 of non-leaky integrate-and-fire neurons; a neuron above threshold resets."""
    b, steps = current.shape[:2]
    potentials = torch.zeros((b, steps + 1) + current.shape[2:], dtype=torch.float32, device=current.device)
    v = potentials[:, 0]
    for t in range(1, steps + 1):
        v = torch.where(v > threshold, torch.zeros((), device=v.device), v)
        v = (v.double() + current[:, t - 1]).float()
        potentials[:, t] = v
    return potentials


def first_spikes(candidates: torch.Tensor, potentials: torch.Tensor | None) -> torch.Tensor:
    """Lateral inhibition: per position, at each step only the map(s) with the highest potential fire
    (ties all fire), and a position that has fired stays silent afterwards. ``None`` potentials:
    every candidate ties (pool1)."""
    if potentials is not None:
        best = torch.where(candidates, potentials, float("-inf")).amax(dim=2, keepdim=True)
        candidates = candidates & (potentials == best)
    fired = candidates.any(dim=2)
    earlier = (fired.int().cumsum(dim=1) - fired.int()) > 0
    return candidates & ~earlier.unsqueeze(2)


def pool_spikes(spikes: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """A pool unit fires at t if any input of its window fired at t − 1."""
    b, t, c, h, w = spikes.shape
    pooled = F.max_pool2d(spikes[:, :-1].reshape(b * (t - 1), c, h, w).float(), kernel, stride, kernel // 2)
    out = torch.zeros((b, t, c) + pooled.shape[-2:], dtype=torch.bool, device=spikes.device)
    out[:, 1:] = pooled.view(b, t - 1, c, *pooled.shape[-2:]) > 0
    return out


class SpikingNetwork(nn.Module):
    """The layers of ``architecture`` (default: conv1 → pool1 → conv2 → pool2 → conv3 of the spec); conv
    weights (maps, in, k, k) float32, buffers ``w1``, ``w2``, … in order."""

    def __init__(self, weights: list[torch.Tensor] | None = None, seed: int = 0,
                 architecture: Architecture = SPEC) -> None:
        super().__init__()
        self.architecture = architecture
        if weights is None:
            weights = random_weights(seed, architecture=architecture)
        check_shapes(weights, architecture)
        for i, w in enumerate(weights):
            self.register_buffer(f"w{i + 1}", w.detach().to(torch.float32).contiguous())

    @property
    def weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"w{i + 1}") for i in range(len(self.architecture.convs))]

    @torch.no_grad()
    def forward(self, spikes: torch.Tensor, thresholds: Thresholds | Sequence[float] = FEATURE_THRESHOLDS,
                record: bool = False) -> Activity:
        """Present a batch of spike trains (B, T, 1, H, W) bool; returns the last layer's potentials over time."""
        convs = iter(zip(self.weights, self.architecture.thresholds(thresholds)))
        trail = [spikes]
        s = spikes
        for layer in self.architecture.layers[:-1]:
            if isinstance(layer, Conv):
                weight, threshold = next(convs)
                v = integrate(conv_increments(s, weight), threshold)
                s = first_spikes(v > threshold, v)
            else:
                s = pool_spikes(s, layer.kernel, layer.stride)
                if layer.inhibition:
                    s = first_spikes(s, None)
            trail.append(s)
        weight, threshold = next(convs)
        potentials = integrate(conv_increments(s, weight), threshold)
        return Activity(potentials, trail if record else None)


def random_weights(seed: int, mean: float = 0.8, std: float = 0.01,
                   architecture: Architecture = SPEC) -> list[torch.Tensor]:
    """STDP's starting point: N(mean, std) clipped into (0.01, 0.99), seeded."""
    gen = torch.Generator().manual_seed(seed)
    weights = []
    for shape in architecture.weight_shapes():
        w = mean + std * torch.randn(*shape, generator=gen, dtype=torch.float64)
        w[w >= 1] = 0.99
        w[w <= 0] = 0.01
        weights.append(w.float())
    return weights


def check_shapes(weights: list[torch.Tensor], architecture: Architecture = SPEC) -> None:
    expected = architecture.weight_shapes()
    got = [tuple(w.shape) for w in weights]
    if got != expected:
        raise WeightsError(f"spiking network weights have shapes {got}; expected {expected}")


def load_weights(directory: str | os.PathLike) -> list[torch.Tensor]:
    """Read ``weight_0..4.npy`` (research layout: kh, kw, in, out; pools kh, kw, maps), refusing
    anything that is not a small, real, finite array before it reaches the network."""
    from ..io import read_npy

    directory = Path(directory)
    if not directory.is_dir():
        raise WeightsError(f"{directory} is not a directory holding weight_0.npy … weight_4.npy")
    conv = []
    for index in range(5):
        path = directory / f"weight_{index}.npy"
        if not path.exists():
            raise WeightsError(f"{path} is missing (expected weight_0.npy … weight_4.npy)")
        array = read_npy(path, max_bytes=MAX_WEIGHT_BYTES, finite=True, error=WeightsError)
        if index % 2 == 0:
            if array.ndim != 4:
                raise WeightsError(f"{path} has shape {array.shape}; a conv layer needs (kh, kw, in, out)")
            conv.append(torch.from_numpy(np.ascontiguousarray(array.transpose(3, 2, 0, 1))).float())
        elif array.ndim != 3 or not np.all(np.asarray(array) > 0):
            raise WeightsError(f"{path} should hold positive pool weights (kh, kw, maps); got shape {array.shape}")
    if any(not torch.isfinite(w).all() for w in conv):
        raise WeightsError(f"{directory} holds weights beyond float32's range")
    check_shapes(conv)
    return conv


def save_weights(weights: list[torch.Tensor], directory: str | os.PathLike, architecture: Architecture = SPEC) -> None:
    """Write weights in the research layout, one ``weight_<layer>.npy`` per layer, pools included (uniform
    1 / k², the research code's), so the research code can read them too."""
    from ..io import write_npy

    check_shapes(weights, architecture)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    convs, maps = iter(weights), architecture.maps()
    for index, layer in enumerate(architecture.layers):
        if isinstance(layer, Conv):
            array = next(convs).detach().cpu().numpy().transpose(2, 3, 1, 0).astype(np.float32)
        else:
            array = np.full((layer.kernel, layer.kernel, maps[index]), 1 / layer.kernel**2, dtype=np.float32)
        write_npy(directory / f"weight_{index}.npy", array)


def output_size(height: int = 160, width: int = 250, architecture: Architecture = SPEC) -> tuple[int, int]:
    """The last layer's H × W for an input of height × width (6 × 9 for the spec's 160 × 250)."""
    return architecture.sizes(height, width)[-1]
