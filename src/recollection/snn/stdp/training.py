"""Unsupervised STDP training of the conv layers, one after the other, with checkpoints and resume.

Each conv layer of the architecture learns in turn from its presentations (:mod:`.rule`); the layers
below it are fixed meanwhile and their spikes, the learning layer's input, are computed once per image
(:mod:`.inputs`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ...errors import OptionError, RecollectionError
from ..architecture import SPEC, Architecture
from ..encoding import DoGEncoder
from ..network import check_shapes, random_weights
from .checkpoints import TrainingState, images_digest, load_checkpoint, write_checkpoint
from .inputs import input_shape, layer_inputs, spike_time_maps
from .rule import StdpConfig, present

Progress = Callable[[int, int, int], None]  # (conv layer, presentations done in that layer, its total)


def presentation_order(count: int, images: int, layer: int, seed: int, shuffle: bool) -> np.ndarray:
    """Image index of every presentation of a layer: cycle through the images, optionally in a seeded
    permutation per pass (``numpy.random.default_rng([seed, layer, pass])``)."""
    if not shuffle:
        return np.arange(count) % images
    passes = -(-count // images)
    order = [np.random.default_rng([seed, layer, p]).permutation(images) for p in range(passes)]
    return np.concatenate(order)[:count] if order else np.zeros(0, np.int64)


def train_stdp(
    images: str | os.PathLike | Sequence | np.ndarray | torch.Tensor,
    seed: int = 0,
    presentations: Sequence[int] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    progress: Progress | None = None,
    config: StdpConfig = StdpConfig(),
    encoder: DoGEncoder = DoGEncoder(),
    weights: list[torch.Tensor] | None = None,
    layers: Sequence[int] | None = None,
    architecture: Architecture = SPEC,
) -> list[torch.Tensor]:
    """Learn the conv layers (conv1, conv2, conv3) by STDP, one after the other; returns the conv
    weights (maps, in, k, k).

    ``images``: an image-folder root (classes in sorted order, sorted files within each: the research
    code cycled through the 400-image TrainingSet this way) or spike-time maps (N, H, W), encoded once.
    ``presentations`` overrides ``config.presentations`` (default 3000 / 5000 / 6000). ``weights``:
    start from these instead of ``random_weights(seed)``; ``layers``: which conv layers (0-based) learn
    (default all). With ``checkpoint_dir``, a checkpoint is written every ``checkpoint_every``
    presentations, at the end of each layer and at the end; ``resume=True`` continues from the latest
    one (bit-identical to a run never interrupted) or starts afresh when there is none.
    ``progress(layer, done, total)`` is called after every presentation (after its checkpoint, if due).
    """
    if presentations is not None:
        config = replace(config, presentations=tuple(int(p) for p in presentations))
    convs = len(architecture.convs)
    if config.layers != convs:
        raise OptionError(f"StdpConfig describes {config.layers} conv layers; the architecture has {convs}")
    if checkpoint_every < 1:
        raise OptionError(f"checkpoint_every must be ≥ 1; got {checkpoint_every}")
    if checkpoint_dir is not None and architecture != SPEC:
        raise OptionError("checkpoints hold the spec's architecture only (the research weight layout)")
    layers = sorted({int(i) for i in (range(convs) if layers is None else layers)})
    if any(not 0 <= i < convs for i in layers):
        raise OptionError(f"layers are 0 … {convs - 1} (the conv layers, 0-based); got {layers}")
    times = spike_time_maps(images, encoder)
    digest = images_digest(times)
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None

    loaded = load_checkpoint(directory) if resume and directory is not None else None
    if loaded is not None:
        state, current = loaded
        if state.seed != seed or state.images != digest or state.config != config.as_dict():
            raise RecollectionError(
                f"the checkpoint in {directory} belongs to another run (seed, images or StdpConfig differ)")
    else:
        current = [w.detach().to(torch.float32).clone() for w in weights] if weights is not None else (
            random_weights(seed, config.init_mean, config.init_std, architecture))
        check_shapes(current, architecture)
        state = TrainingState(0, 0, list(config.a_plus), list(config.a_minus), seed, digest, config.as_dict())

    while state.layer < convs:
        layer = state.layer
        total = config.presentations[layer]
        if layer not in layers or state.done >= total:
            state.layer, state.done = layer + 1, 0
            continue
        order = presentation_order(total, len(times), layer, seed, config.shuffle)
        inputs = layer_inputs(current, times, layer, config, np.unique(order[state.done :]), architecture=architecture)
        shape = input_shape(times.shape[1:], layer, architecture)
        wt = np.ascontiguousarray(current[layer].numpy().transpose(1, 2, 3, 0), dtype=np.float32)
        a_plus, a_minus = state.a_plus[layer], state.a_minus[layer]
        for i in range(state.done, total):
            present(inputs[int(order[i])], wt, shape, config.thresholds[layer], config.offsets[layer],
                    config.winners[layer], a_plus, a_minus)
            a_plus, a_minus = config.next_rates(i, a_plus, a_minus)
            state.done = i + 1
            state.a_plus[layer], state.a_minus[layer] = a_plus, a_minus
            if directory is not None and ((i + 1) % checkpoint_every == 0 or i + 1 == total):
                current[layer] = torch.from_numpy(wt.transpose(3, 0, 1, 2).copy())
                write_checkpoint(directory, state, current)
            if progress is not None:
                progress(layer, i + 1, total)
        current[layer] = torch.from_numpy(wt.transpose(3, 0, 1, 2).copy())
        state.layer, state.done = layer + 1, 0
    if directory is not None:
        write_checkpoint(directory, state, current)
    return current
