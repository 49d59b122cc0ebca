"""Where recall starts, as a signal: a class neuron, a layer's (sparse) activations, or a control.

The :class:`Source` specification itself is declared with the other options in ``options.py``.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch
from torch import Tensor

from ..errors import OptionError
from .options import Source
from .record import Trace

__all__ = ["Source", "Targets", "build_source", "sparsify"]  # Source is re-exported: it lives in options.py

Targets = Union[int, str, Sequence[Union[int, str]], Tensor, None]  # Captum's target=: one class for all, or one per image


def resolve_target(target: int | str, classes: Sequence[str] | None, n_classes: int) -> int:
    """A class index from an index or a name (names need the model's class list)."""
    if isinstance(target, int):
        if not 0 <= target < n_classes:
            raise OptionError(f"class index {target} is out of range: the model has classes 0..{n_classes - 1}")
        return target
    if classes is None:
        raise OptionError(f"class name {target!r} given but the model has no class names; use an index")
    from ..cnn.classes import resolve_class

    return resolve_class(target, classes)


def random_other_classes(predicted: Tensor, n_classes: int, generator: torch.Generator) -> Tensor:
    """For each image a uniformly random class other than its predicted one."""
    if n_classes < 2:
        raise OptionError("random-class needs a model with at least 2 classes")
    offsets = torch.randint(1, n_classes, predicted.shape, generator=generator, device=predicted.device)
    return (predicted + offsets) % n_classes


def sparsify(x: Tensor, top: float, per_channel: bool) -> Tensor:
    """Keep the top P % activations (over C×H×W, or per channel over H×W), zero the rest."""
    if top >= 100.0:
        return x
    n = x.shape[0]
    groups = x.reshape(n * x.shape[1], -1) if (per_channel and x.dim() == 4) else x.reshape(n, -1)
    k = max(1, math.ceil(groups.shape[1] * top / 100.0))
    idx = groups.topk(k, dim=1).indices
    kept = torch.zeros_like(groups).scatter_(1, idx, groups.gather(1, idx))
    return kept.reshape(x.shape)


def one_hot(classes: Tensor, n_classes: int, like: Tensor) -> Tensor:
    return torch.zeros(classes.shape[0], n_classes, dtype=like.dtype, device=like.device).scatter_(
        1, classes.view(-1, 1), 1.0)


def build_source(source: Source, trace: Trace, classes: Sequence[str] | None,
                 generator: torch.Generator, target: Targets = None) -> tuple[int, Tensor, Tensor | None]:
    """The tap to start from, the starting signal, and the class per image (class sources).

    ``target`` (Captum's ``target=``): the class neuron for the ``class`` source, one for every
    image (an index or name) or one per image (a list or a 1-D tensor).
    """
    if source.kind in ("layer", "random") and source.layer >= len(trace.taps):
        names = ", ".join(f"{t.number}={t.name}" for t in trace.taps)
        raise OptionError(f"layer {source.layer} is out of range: this model has layers 0..{len(trace.taps) - 1} ({names})")
    last = trace.output
    if source.kind in ("class", "random-class") and last.dim() != 2:
        raise OptionError("class sources need a model whose last layer is a linear classifier")
    if target is not None and (source.kind != "class" or source.target is not None):
        raise OptionError(f"target= names the class neuron of the class source; source {source} "
                          + ("names its own class" if source.kind == "class" else "takes none"))
    n_classes = last.shape[1] if last.dim() == 2 else 0
    if source.kind == "class":
        if target is not None:
            targets = per_image_targets(target, classes, n_classes, trace.predicted)
        elif source.target is None:
            targets = trace.predicted
        else:
            targets = torch.full_like(trace.predicted, resolve_target(source.target, classes, n_classes))
        return 0, one_hot(targets, n_classes, last), targets
    if source.kind == "random-class":
        targets = random_other_classes(trace.predicted, n_classes, generator)
        return 0, one_hot(targets, n_classes, last), targets
    if source.kind == "last-layer":
        return 0, last.clone(), None
    if source.kind == "zero":
        return 0, torch.zeros_like(last), None
    tap = trace.taps[source.layer]
    activations = trace.output_of(tap.step)
    if source.kind == "layer":
        return tap.number, sparsify(activations, source.top, source.per_channel), None
    noise = torch.randn(activations.shape, generator=generator, device=activations.device, dtype=activations.dtype)
    return tap.number, noise, None


def per_image_targets(target: Targets, classes: Sequence[str] | None, n_classes: int, predicted: Tensor) -> Tensor:
    """Captum-style ``target``: an int (or name) for every image, or one per image."""
    n = predicted.shape[0]
    if isinstance(target, Tensor):
        if target.dim() == 0:
            target = int(target)
        elif target.dim() == 1 and not target.is_floating_point():
            target = target.tolist()
        else:
            raise OptionError(f"target must be an int, a list or a 1-D integer tensor, not a {target.dim()}-D "
                              f"{target.dtype} tensor")
    if isinstance(target, (int, str)):
        return torch.full_like(predicted, resolve_target(target, classes, n_classes))
    if not isinstance(target, Sequence):
        raise OptionError(f"target must be an int, a class name, a list or a tensor, not {type(target).__name__}")
    if len(target) != n:
        raise OptionError(f"target has {len(target)} entries for a batch of {n} images")
    indices = []
    for t in target:
        if isinstance(t, bool) or not isinstance(t, (int, str)):
            raise OptionError(f"target entries must be class indices or names, not {t!r}")
        indices.append(resolve_target(t, classes, n_classes))
    return torch.tensor(indices, dtype=predicted.dtype, device=predicted.device)
