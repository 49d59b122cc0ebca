"""The backward rule of every op kind, and where the walk back normalises, rectifies and reports.

Each rule takes the signal ``y`` at an op's output (batch first) and returns one signal per
input that depends on the image, shaped like that input. Biases and constants are ignored:
an op adds its constant, or scales by it, as in the forward pass.

The places (``Plan``), for the spec's per-step options:
- a *weighted* step (conv, linear, max pool) normalises its result. The result is seen as
  the map it came from before any flatten/view/dropout (AlexNet's fc6 sees the 256×6×6
  pool5 map), so local statistics are per channel wherever the signal is a map;
- rectification acts on a tensor once every path into it has added up, at (a) the output of
  every forward ReLU, and (b) the input of every weighted step, moved below max/average
  pools, dropouts and reshapes. In ReLU networks (AlexNet, VGG, ResNet) (b) adds no place
  to (a): the rectifications sit exactly where Captum's Deconvolution puts them. (b) keeps
  the research code's rectification after a strided conv that replaced a pool (ConvPool);
- the cascade reports the signal at each weighted step's (looked-through) input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from . import steps as S
from .graph import INPUT
from .ops import WEIGHTED

RESHAPING = ("reshape", "dropout", "identity")  # the signal passes unchanged, up to its shape
BELOW_POOLS = RESHAPING + ("maxpool", "avgpool", "adaptive_avgpool")  # where (b) moves a rectification


def backward(step, y: Tensor, unpool: Callable[[Tensor, object], Tensor]) -> list[Tensor]:
    """The op's adjoint (max pools: ``unpool``), one result per data input of the step."""
    kind = step.kind
    shape = (y.shape[0], *step.input_shape[1:])
    if kind == "conv":
        return [S.conv_backward(y, step.spec, shape)]
    if kind == "linear":
        return [S.linear_backward(y, step.spec.weight, shape)]
    if kind == "maxpool":
        return [unpool(y, step)]
    if kind == "avgpool":
        return [S.avgpool_backward(y, step.spec, shape)]
    if kind == "adaptive_avgpool":
        return [S.adaptive_avgpool_backward(y, shape)]
    if kind == "batchnorm":
        return [S.batchnorm_backward(y, step.spec)]
    if kind in ("relu", "dropout", "identity"):
        return [y]
    if kind == "reshape":
        return [y.reshape(shape)]
    if kind == "scale":
        return [S.sum_to(y * step.spec, shape)]
    if kind == "add":
        return [S.sum_to(y if factor == 1 else y * factor, (y.shape[0], *s[1:]))
                for factor, s in zip(step.spec, step.input_shapes)]
    if kind == "cat":
        dim, sizes, mask = step.spec
        return [piece for piece, data in zip(y.split(list(sizes), dim), mask) if data]
    raise AssertionError(f"no backward rule for {kind}")  # recording refuses such ops


@dataclass
class Plan:
    """Where the walk back normalises, rectifies and reports, per weighted step (see the module doc)."""

    target: dict[int, int]  # weighted step -> the tensor its result is seen as (normalised, reported)
    anchor: dict[int, int]  # weighted step -> the tensor whose rectification it asks for
    relus: frozenset[int]  # steps that are forward ReLUs (their outputs are rectified)
    names: dict[int, str]  # weighted step -> its name in the cascade


def _down(steps, index: int, through: tuple[str, ...]) -> int:
    """From a step's first input, walk down through single-input ops of the given kinds."""
    at = steps[index].inputs[0]
    while at != INPUT and steps[at].kind in through:
        at = steps[at].inputs[0]
    return at


def make_plan(trace) -> Plan:
    steps = trace.steps
    weighted = [i for i, s in enumerate(steps) if s.kind in WEIGHTED]
    tap_names = {t.layer: t.name for t in trace.taps}
    return Plan(
        target={i: _down(steps, i, RESHAPING) for i in weighted},
        anchor={i: _down(steps, i, BELOW_POOLS) for i in weighted},
        relus=frozenset(i for i, s in enumerate(steps) if s.kind == "relu"),
        names={i: tap_names.get(i, steps[i].name) for i in weighted},
    )


def tensor_shape(trace, index: int, batch: int) -> tuple[int, ...]:
    shape = trace.inputs.shape if index == INPUT else trace.steps[index].output_shape
    return (batch, *shape[1:])


def accumulate(signal: dict[int, Tensor], index: int, value: Tensor) -> None:
    """Add a contribution to the signal at a tensor (several paths meet at a residual join)."""
    signal[index] = value if index not in signal else signal[index] + value


def zeros_at(trace, index: int, like: Tensor) -> Tensor:
    return torch.zeros(tensor_shape(trace, index, like.shape[0]), dtype=like.dtype, device=like.device)
