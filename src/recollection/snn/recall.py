"""Spiking recall: from a name neuron back to an image, through the STDP network that learned to see.

The name neuron's synapses ``W_c`` (one per conv3 neuron) start the recall at conv3. The activity
then walks back through conv3, pool2, conv2, pool1 and conv1 with the transposed weights, down to
the difference-of-Gaussians input map, and a regularised deconvolution of that map estimates a
grey image. Two flavours:

- ``rate``: the backward signal is a real-valued map (like the CNN retrace), rectified and
  rescaled after every step;
- ``spikes``: the backward signal is latency-coded: each neuron spikes at most once, earlier for a
  stronger drive; every backward layer integrates the spikes it receives over time (non-leaky,
  time as a batch dimension) and fires when its potential crosses a threshold set so that a fixed
  fraction of the layer fires (a homeostatic threshold). The input map is read from the spike times.

Pools are undone by *spreading* (a pool unit's activity goes to every position of its window: no
image needed, imagination) or by the *switches* of a perceived cue image (the position of the
earliest spike in each window, and only the windows that fired: reinstatement of that trace).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .network import POOL_SHAPES, SpikingNetwork, Thresholds

FLAVOURS = ("rate", "spikes")
UNPOOLS = ("spread", "switches")
LAYER_NAMES = ("conv3", "pool2", "conv2", "pool1", "conv1")


@dataclass
class Recall:
    """What a recall returns: the DoG-space map, the image estimate, and every backward step."""

    dog: np.ndarray  # (H, W) ≥ 0: the recalled difference-of-Gaussians map
    image: np.ndarray  # (H, W) in [0, 1]: its deconvolution, an estimate of the grey image
    cascade: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (layer, (C, H, W) map)
    times: np.ndarray | None = None  # spikes flavour: the input map's spike times (255 = silent)


@dataclass(frozen=True)
class Cue:
    """The switches of a perceived image: per pool, the flat index of each window's earliest spike
    and whether the window fired at all."""

    switches: tuple[torch.Tensor, torch.Tensor]  # pool1 (4, 27, 42), pool2 (20, 6, 9) int64
    fired: tuple[torch.Tensor, torch.Tensor]  # same shapes, bool


def cue_from_spikes(trail: list[torch.Tensor]) -> Cue:
    """Switches from a forward pass recorded with ``record=True`` (one image)."""
    switches, fired = [], []
    for layer, (kernel, stride) in zip((trail[1][0], trail[3][0]), POOL_SHAPES):  # conv1 and conv2 spikes (T, C, H, W)
        steps = layer.shape[0]
        any_spike = layer.any(dim=0)
        first = torch.where(any_spike, layer.float().argmax(dim=0).float(), float(steps))
        earliness = torch.where(any_spike, steps - first, torch.zeros(()))  # larger = earlier, 0 = silent
        pooled, index = F.max_pool2d(earliness[None], kernel, stride, kernel // 2, return_indices=True)
        switches.append(index[0])
        fired.append(pooled[0] > 0)
    return Cue((switches[0], switches[1]), (fired[0], fired[1]))


def perceive_cue(network: SpikingNetwork, times: np.ndarray, thresholds: Thresholds, time_steps: int = 15) -> Cue:
    from .encoding import spike_train

    spikes = spike_train(torch.from_numpy(times[None]), time_steps)
    activity = network(spikes, thresholds, record=True)
    return cue_from_spikes(activity.spikes)


def name_signal(weights: np.ndarray, name: int, contrast: bool = True, shape: tuple = (20, 6, 9)) -> torch.Tensor:
    """The name neuron's synapses as a conv3 map; ``contrast``: minus the mean of all name neurons,
    so that what every name shares (the initial weight) does not swamp what this name learned."""
    w = np.asarray(weights, dtype=np.float64)
    signal = w[name] - w.mean(axis=0) if contrast else w[name]
    return torch.from_numpy(np.clip(signal, 0, None).reshape(shape)).float()


class SpikingRecall:
    """Backward recall through a ``SpikingNetwork``, Captum-style: build once, call per name."""

    def __init__(self, network: SpikingNetwork, flavour: str = "rate", unpool: str = "spread",
                 steps: int = 9, keep: float = 0.2, regularisation: float = 0.05, footprint: bool = True) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {flavour!r}; choose from {', '.join(FLAVOURS)}")
        if unpool not in UNPOOLS:
            raise ValueError(f"unknown unpool mode {unpool!r}; choose from {', '.join(UNPOOLS)}")
        if not 0 < keep <= 1:
            raise ValueError(f"keep must be a fraction in (0, 1], got {keep}")
        self.network, self.flavour, self.unpool = network, flavour, unpool
        self.steps, self.keep, self.regularisation = steps, keep, regularisation
        self.footprint = footprint

    def __call__(self, start: torch.Tensor, cue: Cue | None = None, size: tuple[int, int] = (160, 250)) -> Recall:
        if self.unpool == "switches" and cue is None:
            raise ValueError("unpool='switches' needs a cue image (its switches); use 'spread' without one")
        shapes = self._shapes(size)
        cascade, times = self._walk(start, cue, shapes)
        dog = cascade[-1][1][0]
        if self.footprint:  # divisive normalisation by the pathway's answer to uniform activity
            base = self._walk(torch.ones_like(start), cue, shapes)[0][-1][1][0]
            dog = dog / (base + 1e-3 * max(float(base.max()), 1e-12))
            dog = dog / dog.max() if dog.max() > 0 else dog
            cascade.append(("normalised", dog[None].astype(np.float32)))
        return Recall(dog, deconvolve(dog, self.regularisation), cascade, times)

    def _walk(self, start: torch.Tensor, cue: Cue | None, shapes):
        if self.flavour == "rate":
            return self._rate(start, cue, shapes), None
        return self._spikes(start, cue, shapes)

    @staticmethod
    def _shapes(size: tuple[int, int]) -> list[tuple[int, int]]:
        h, w = size
        out = [(h, w)]
        for kernel, stride in POOL_SHAPES:
            h, w = (h + 2 * (kernel // 2) - kernel) // stride + 1, (w + 2 * (kernel // 2) - kernel) // stride + 1
            out.append((h, w))
        return out  # input/conv1, pool1/conv2, pool2/conv3

    def _backward_ops(self, cue: Cue | None, shapes):
        w1, w2, w3 = self.network.weights
        conv = lambda w: (lambda x: F.conv_transpose2d(x, w.to(x.dtype), padding=w.shape[-1] // 2))

        def unpool(level: int):
            kernel, stride = POOL_SHAPES[level]
            h, w = shapes[level]

            def op(x: torch.Tensor) -> torch.Tensor:
                if self.unpool == "spread" or cue is None:
                    ones = torch.ones(x.shape[1], 1, kernel, kernel, dtype=x.dtype)
                    y = F.conv_transpose2d(x, ones, stride=stride, padding=kernel // 2, groups=x.shape[1])
                    return F.pad(y, (0, w - y.shape[-1], 0, h - y.shape[-2]))[..., :h, :w]
                gated = x * cue.fired[level].to(x.dtype)
                index = cue.switches[level].expand_as(gated).flatten(-2)
                out = torch.zeros(*x.shape[:-2], h * w, dtype=x.dtype)
                out.scatter_add_(-1, index, gated.flatten(-2))
                return out.view(*x.shape[:-2], h, w)

            return op

        return [("conv3", conv(w3)), ("pool2", unpool(1)), ("conv2", conv(w2)), ("pool1", unpool(0)), ("conv1", conv(w1))]

    def _rate(self, start: torch.Tensor, cue: Cue | None, shapes) -> list[tuple[str, np.ndarray]]:
        x = start[None].double()
        cascade = [("name", start.numpy())]
        for name, op in self._backward_ops(cue, shapes):
            x = op(x).clamp_min(0)
            peak = float(x.max())
            x = x / peak if peak > 0 else x
            cascade.append((name, x[0].float().numpy()))
        return cascade

    def _spikes(self, start: torch.Tensor, cue: Cue | None, shapes):
        times = latency(start.double(), self.steps, self.keep)
        spikes = spikes_of(times, self.steps)  # (T, C, H, W)
        cascade = [("name", start.numpy())]
        for name, op in self._backward_ops(cue, shapes):
            drive = op(spikes.double())  # time is the batch dimension
            if name.startswith("pool"):  # a pool relays a spike at once, to its window (or switch)
                times = first_time(drive > 0)
            else:
                potential = drive.cumsum(dim=0)  # non-leaky integration over time
                final = potential[-1]
                positive = final[final > 0]
                if positive.numel() == 0:
                    times = torch.full(final.shape, 255, dtype=torch.int64)
                else:
                    threshold = torch.quantile(positive, 1 - self.keep)  # float64, like the sums
                    crossed = potential > threshold
                    if not crossed[-1].any():  # the top values tie: let the tie fire
                        crossed = potential >= threshold
                    times = first_time(crossed)
            spikes = spikes_of(times, self.steps)
            strength = np.where(times.numpy() < 255, self.steps - times.numpy(), 0).astype(np.float32)
            cascade.append((name, strength))
        return cascade, times[0].numpy().astype(np.uint8)


def latency(values: torch.Tensor, steps: int, keep: float) -> torch.Tensor:
    """Rank-order latency code of the top ``keep`` fraction of positive values (255 = silent)."""
    flat = values.flatten()
    positive = torch.nonzero(flat > 0).squeeze(1)
    times = torch.full(flat.shape, 255, dtype=torch.int64)
    if positive.numel():
        n = max(1, int(round(keep * positive.numel())))
        order = positive[torch.argsort(flat[positive], descending=True, stable=True)][:n]
        times[order] = torch.clamp((torch.arange(n) * steps) // n, max=steps - 1)
    return times.view(values.shape)


def spikes_of(times: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.stack([times == t for t in range(steps)])  # (T, ...) bool


def first_time(crossed: torch.Tensor) -> torch.Tensor:
    """First step at which each neuron crosses (T, ...) → times, 255 where it never does."""
    any_ = crossed.any(dim=0)
    return torch.where(any_, crossed.int().argmax(dim=0), torch.tensor(255))


def deconvolve(dog: np.ndarray, regularisation: float = 0.05) -> np.ndarray:
    """Tikhonov-regularised inverse of the DoG filter (in the Fourier domain), rescaled to [0, 1]."""
    from .encoding import dog_kernel

    h, w = dog.shape
    kernel = np.zeros((h, w))
    g = dog_kernel()
    k = g.shape[0]
    kernel[:k, :k] = g
    kernel = np.roll(kernel, (-(k // 2), -(k // 2)), axis=(0, 1))
    G = np.fft.fft2(kernel)
    D = np.fft.fft2(dog)
    estimate = np.real(np.fft.ifft2(np.conj(G) * D / (np.abs(G) ** 2 + regularisation * np.abs(G).max() ** 2)))
    lo, hi = np.percentile(estimate, [1, 99])
    return np.clip((estimate - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(estimate)
