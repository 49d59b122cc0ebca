"""Forward pass (perception), recorded: input sizes, activations and pool switches."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError

SUPPORTED = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.ReLU, nn.Dropout, nn.Flatten, nn.Identity)


@dataclass
class Step:
    """One leaf layer of the forward pass and what it produced."""

    name: str
    module: nn.Module
    input_shape: torch.Size
    output: Tensor
    switches: Tensor | None = None


@dataclass(frozen=True)
class Tap:
    """A layer whose activations can start a recollection (``layer:N``, ``random:N``)."""

    number: int  # N, counted back from the last layer (0 = last, 1 = fc7 in AlexNet, ...)
    name: str  # conv1, pool1, ..., fc8
    step: int  # index in Trace.steps of the step whose output this is (after its ReLU)
    layer: int  # index in Trace.steps of the conv / linear / pool itself
    shape: tuple[int, ...]  # per-image shape


@dataclass
class Trace:
    """Everything the backward pass needs from a forward pass over a batch."""

    inputs: Tensor
    steps: list[Step]
    taps: list[Tap] = field(default_factory=list)

    @property
    def output(self) -> Tensor:
        return self.steps[-1].output

    @property
    def predicted(self) -> Tensor:
        return self.output.argmax(dim=1)

    def tap(self, number: int) -> Tap:
        if not 0 <= number < len(self.taps):
            raise IndexError(number)
        return self.taps[number]


def leaf_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's leaf modules in registration order, which must be the forward order."""
    leaves = [(name, m) for name, m in model.named_modules() if not list(m.children())]
    if not leaves:
        raise ModelError(f"{type(model).__name__} has no layers")
    for name, m in leaves:
        if not isinstance(m, SUPPORTED):
            kinds = ", ".join(t.__name__ for t in SUPPORTED)
            raise ModelError(f"layer {name!r} is a {type(m).__name__}; the retrace supports {kinds}")
    return leaves


def _stage_names(leaves: list[tuple[str, nn.Module]]) -> list[tuple[str, int, int]]:
    """Name each conv/pool/linear stage AlexNet-style and find the step that ends it.

    A conv followed by ReLU is ``convK``; a strided conv without ReLU (ConvPool's
    replacement of a max pool) is ``convpoolK``; a max pool after convK is ``poolK``;
    linear layers continue the count (AlexNet: fc6, fc7, fc8).
    """
    stages: list[tuple[str, int, int]] = []
    convs = 0
    for i, (_, m) in enumerate(leaves):
        follows_relu = i + 1 < len(leaves) and isinstance(leaves[i + 1][1], nn.ReLU)
        end = i + 1 if follows_relu else i
        if isinstance(m, nn.Conv2d):
            if follows_relu or not stages or not stages[-1][0].startswith("conv"):
                convs += 1
                stages.append((f"conv{convs}", end, i))
            else:
                stages.append((f"convpool{convs}", end, i))
        elif isinstance(m, nn.MaxPool2d):
            stages.append((f"pool{convs}", end, i))
        elif isinstance(m, nn.Linear):
            convs += 1
            stages.append((f"fc{convs}", end, i))
    return stages


@torch.inference_mode()
def record(model: nn.Module, inputs: Tensor) -> Trace:
    """Run ``model`` layer by layer on a batch, keeping what the backward pass needs."""
    leaves = leaf_layers(model)
    steps: list[Step] = []
    x = inputs
    for name, m in leaves:
        shape = x.shape
        switches = None
        if isinstance(m, nn.MaxPool2d):
            x, switches = F.max_pool2d(x, m.kernel_size, m.stride, m.padding, m.dilation,
                                       ceil_mode=m.ceil_mode, return_indices=True)
        elif isinstance(m, nn.Dropout):
            pass  # eval mode: identity
        else:
            if isinstance(m, nn.Linear) and x.dim() > 2:
                x = x.flatten(1)  # models like torchvision's AlexNet flatten in forward()
            x = m(x)
        steps.append(Step(name, m, shape, x, switches))
    stages = _stage_names(leaves)
    taps = [Tap(n, name, end, layer, tuple(steps[end].output.shape[1:]))
            for n, (name, end, layer) in enumerate(reversed(stages))]
    return Trace(inputs, steps, taps)
