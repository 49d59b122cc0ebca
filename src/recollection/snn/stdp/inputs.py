"""What the learning layer sees: the images as spike-time maps, and the events entering a conv layer.

The input spikes of the learning layer (the image's spikes, or the spikes of the fixed layers below
it) are computed once per image and reused for every presentation of that image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from ...data.folders import image_folder
from ...errors import OptionError
from ..architecture import SPEC, Architecture
from ..encoding import NO_SPIKE, DoGEncoder, spike_train
from ..events import run_events, spikes_to_events, times_to_events
from ..features import encode_files
from ..network import SpikingNetwork
from .rule import Events, StdpConfig


def spike_time_maps(images: str | os.PathLike | Sequence | np.ndarray | torch.Tensor,
                    encoder: DoGEncoder = DoGEncoder()) -> np.ndarray:
    """(N, H, W) uint8 spike-time maps from an image folder (classes in sorted order, files sorted
    within each class: the research code's TrainingSet order) or from maps given directly."""
    if isinstance(images, (str, os.PathLike)):
        files, _, _ = image_folder(images)
        return encode_files(files, encoder)
    if isinstance(images, torch.Tensor):
        images = images.cpu().numpy()
    maps = np.stack([np.asarray(m) for m in images]) if not isinstance(images, np.ndarray) else images
    if maps.ndim != 3 or len(maps) == 0:
        raise OptionError(f"STDP needs a non-empty stack of spike-time maps (N, H, W); got shape {maps.shape}")
    if maps.dtype != np.uint8:
        if maps.min() < 0 or maps.max() > NO_SPIKE:
            raise OptionError("spike-time maps hold steps 0..254 (255 = silent)")
        maps = maps.astype(np.uint8)
    return np.ascontiguousarray(maps)


def input_shape(image_shape: tuple[int, int], layer: int, architecture: Architecture = SPEC) -> tuple[int, int]:
    """H × W of the input (= output: stride 1, 'same') of conv ``layer`` (0-based among the conv layers)."""
    return architecture.sizes(*image_shape)[architecture.conv_positions()[layer]]


@torch.no_grad()
def layer_inputs(weights: list[torch.Tensor], times: np.ndarray, layer: int, config: StdpConfig,
                 index: Sequence[int] | np.ndarray | None = None, engine: str = "event",
                 architecture: Architecture = SPEC) -> dict[int, Events]:
    """Events of the spikes entering conv ``layer`` (0, 1, 2) for images ``index`` (default: all),
    computed with the fixed layers below and the learning thresholds. ``engine``: "event" (the
    event-driven engine, :mod:`..events`) or "torch" (:class:`..network.SpikingNetwork`'s dense
    forward; the same spikes, much slower)."""
    if engine not in ("event", "torch"):
        raise OptionError(f"engine is 'event' or 'torch'; got {engine!r}")
    chosen = sorted({int(i) for i in (range(len(times)) if index is None else index)})
    below = architecture.conv_positions()[layer]  # the layers under it, in ``architecture.layers``
    if below == 0:
        return {i: times_to_events(times[i], config.time_steps) for i in chosen}
    network = SpikingNetwork([w.detach().float() for w in weights], architecture=architecture)
    thresholds = config.network_thresholds()
    out: dict[int, Events] = {}
    if engine == "event":
        spikes = run_events(network, times[chosen], thresholds, config.time_steps, record=[below - 1],
                            stop=below).recorded(below - 1)
        to_events = times_to_events if architecture.fires_once(below - 1) else (lambda s, _: spikes_to_events(s))
        return {i: to_events(s, config.time_steps) for i, s in zip(chosen, spikes)}
    for start in range(0, len(chosen), config.batch_size):
        chunk = chosen[start : start + config.batch_size]
        batch = torch.from_numpy(np.ascontiguousarray(times[chunk]))
        trail = network(spike_train(batch, config.time_steps), thresholds, record=True).spikes
        for i, s in zip(chunk, trail[below].numpy()):
            out[i] = spikes_to_events(s)
    return out
