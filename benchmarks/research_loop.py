"""The research code's loop-based retrace of AlexNet, re-implemented as the benchmark's baseline.

This is deliberately slow: it reproduces how the original research code computed the
backward pass (spec §2), one image at a time, so that the benchmark can measure what the
vectorised engine (``recollection.retrace``) gains over it.

- Forward: run AlexNet layer by layer on one image, keeping each layer's input size, its
  output and every max pool's argmax indices.
- Backward from a one-hot class source, biases ignored:
  - linear ``y = W x``: ``W.t() @ y`` (a matmul, as the research code);
  - conv: a Python loop over (image, output channel c, i, j) that adds ``W[c] * a[c, i, j]``
    (a C_in×k×k tensor) into a zero padded canvas at ``[:, i*s:i*s+k, j*s:j*s+k]``, then
    crops the padding;
  - max pool: a Python loop over (c, i, j) that adds each value at the argmax index the
    forward pass recorded (overlapping windows add up);
  - adaptive avg pool: identity on a 6×6 map (AlexNet at 224 px), otherwise a loop that
    spreads each value evenly over its window (only needed for the small check input);
  - after every linear, conv and unpool step: the normalisation (``rescale_std`` or none),
    then the rectification (``positivise`` after linear steps, ``positivise_conv`` after
    conv and unpool steps), in this order.
Every loop visits every position, zero activations included (the research code did not
skip them). The loop invariants (``W[c]``, the row ``a[c, i]``) are hoisted out of the inner
loops, which makes this baseline faster (about 10 s per image here instead of about 14 s)
and the speed-ups measured against it conservative; ``literal=True`` indexes them afresh in
the innermost loop, as the expression ``W[c] * a[c, i, j]`` is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class Layer:
    kind: str  # conv, relu, pool, avgpool, flatten, dropout, linear
    module: nn.Module | None
    input_shape: tuple[int, ...]  # without the batch dimension
    output: Tensor  # without the batch dimension
    indices: Tensor | None = None  # max pool switches, C×Ho×Wo, flat over the input's H×W


def alexnet_layers(model: nn.Module) -> list[tuple[str, nn.Module | None]]:
    """AlexNet's layers in forward order, with the flatten that ``forward()`` does inline."""
    kinds = {nn.Conv2d: "conv", nn.ReLU: "relu", nn.MaxPool2d: "pool", nn.Dropout: "dropout",
             nn.Linear: "linear", nn.AdaptiveAvgPool2d: "avgpool"}
    layers: list[tuple[str, nn.Module | None]] = []
    for m in list(model.features) + [model.avgpool]:
        layers.append((kinds[type(m)], m))
    layers.append(("flatten", None))
    for m in model.classifier:
        layers.append((kinds[type(m)], m))
    return layers


@torch.inference_mode()
def forward_recorded(model: nn.Module, image: Tensor) -> list[Layer]:
    """The forward pass of one C×H×W image, keeping sizes, outputs and switches."""
    x = image.unsqueeze(0)
    record: list[Layer] = []
    for kind, m in alexnet_layers(model):
        shape = tuple(x.shape[1:])
        indices = None
        if kind == "pool":
            x, indices = F.max_pool2d(x, m.kernel_size, m.stride, m.padding, m.dilation,
                                      ceil_mode=m.ceil_mode, return_indices=True)
            indices = indices[0]
        elif kind == "flatten":
            x = torch.flatten(x, 1)
        elif kind == "dropout":
            pass
        else:
            x = m(x)
        record.append(Layer(kind, m, shape, x[0], indices))
    return record


# ---------------------------------------------------------------------------- normalisation
def rescale_std(x: Tensor) -> Tensor:
    """clip(0.1·(x − mean)/std + 0.5, 0, 1) over the whole map (population std)."""
    z = (x - x.mean()) / x.std(unbiased=False)
    return torch.nan_to_num((0.1 * z + 0.5).clamp(0.0, 1.0), nan=0.0, posinf=0.0, neginf=0.0)


def no_normalisation(x: Tensor) -> Tensor:
    return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


NORMALISE = {"rescale_std": rescale_std, None: no_normalisation}


# ---------------------------------------------------------------------------- backward steps
def linear_backward(y: Tensor, m: nn.Linear) -> Tensor:
    return m.weight.t() @ y


def conv_backward_loop(a: Tensor, m: nn.Conv2d, input_shape: tuple[int, ...], literal: bool = False) -> Tensor:
    """Scatter W[c]·a[c, i, j] into a zero padded canvas, then crop the padding.

    ``literal`` indexes ``w[c]`` and ``a[n, c, i, j]`` afresh in the innermost loop, as the
    expression is written, instead of hoisting the loop invariants (same arithmetic, slower).
    """
    a = a.unsqueeze(0)  # the research code looped over the images of its batch too
    w = m.weight
    s, k, p = m.stride[0], m.kernel_size[0], m.padding[0]
    assert m.stride[0] == m.stride[1] and m.kernel_size[0] == m.kernel_size[1] and m.padding[0] == m.padding[1]
    assert m.groups == 1 and m.dilation == (1, 1)
    c_in, h_in, w_in = input_shape
    outs = []
    for n in range(a.shape[0]):
        canvas = torch.zeros(c_in, h_in + 2 * p, w_in + 2 * p, dtype=a.dtype, device=a.device)
        if literal:
            for c in range(a.shape[1]):
                for i in range(a.shape[2]):
                    for j in range(a.shape[3]):
                        canvas[:, i * s:i * s + k, j * s:j * s + k] += w[c] * a[n, c, i, j]
            outs.append(canvas[:, p:p + h_in, p:p + w_in])
            continue
        for c in range(a.shape[1]):
            w_c, a_c = w[c], a[n, c]  # loop invariants hoisted: the baseline is not made slower than it must be
            for i in range(a.shape[2]):
                a_ci = a_c[i]
                for j in range(a.shape[3]):
                    canvas[:, i * s:i * s + k, j * s:j * s + k] += w_c * a_ci[j]
        outs.append(canvas[:, p:p + h_in, p:p + w_in])
    return torch.stack(outs)[0]


def unpool_loop(y: Tensor, indices: Tensor, input_shape: tuple[int, ...], literal: bool = False) -> Tensor:
    """Put each value back at its recorded argmax position (overlapping windows add up)."""
    c_in, h_in, w_in = input_shape
    out = torch.zeros(c_in, h_in * w_in, dtype=y.dtype, device=y.device)
    if literal:
        for c in range(y.shape[0]):
            for i in range(y.shape[1]):
                for j in range(y.shape[2]):
                    out[c, indices[c, i, j]] += y[c, i, j]
        return out.view(c_in, h_in, w_in)
    for c in range(y.shape[0]):
        out_c, idx_c, y_c = out[c], indices[c], y[c]
        for i in range(y.shape[1]):
            idx_ci, y_ci = idx_c[i], y_c[i]
            for j in range(y.shape[2]):
                out_c[idx_ci[j]] += y_ci[j]
    return out.view(c_in, h_in, w_in)


def avgpool_backward_loop(y: Tensor, input_shape: tuple[int, ...]) -> Tensor:
    """Identity on a map that already has the pooled size; else spread each value over its window."""
    c_in, h_in, w_in = input_shape
    ho, wo = y.shape[-2:]
    if (ho, wo) == (h_in, w_in):
        return y
    out = torch.zeros(input_shape, dtype=y.dtype, device=y.device)
    for i in range(ho):
        r0, r1 = (i * h_in) // ho, math.ceil((i + 1) * h_in / ho)
        for j in range(wo):
            c0, c1 = (j * w_in) // wo, math.ceil((j + 1) * w_in / wo)
            out[:, r0:r1, c0:c1] += y[:, i, j].view(-1, 1, 1) / ((r1 - r0) * (c1 - c0))
    return out


@torch.inference_mode()
def retrace(record: list[Layer], target: int | None = None, normalize: str | None = "rescale_std",
            positivise: bool = True, positivise_conv: bool = True,
            defer_to_unpool: bool = False, literal: bool = False) -> Tensor:
    """Walk back from a one-hot class source (the predicted class by default) to the input.

    ``defer_to_unpool`` is *not* the research code: it moves the rectification of a step whose
    next retraced weighted layer is a max pool to after the unpool, as the engine does, so
    that a check can tell that this placement is the only difference between the two.
    ``literal``: the loops without hoisted loop invariants (see ``conv_backward_loop``).
    """
    norm = NORMALISE[normalize]
    logits = record[-1].output
    y = torch.zeros_like(logits)
    y[int(logits.argmax()) if target is None else target] = 1.0
    weighted = [i for i, layer in enumerate(record) if layer.kind in ("linear", "conv", "pool")]
    next_back = dict(zip(weighted[1:], weighted[:-1]))  # the weighted layer retraced after this one
    pending = False
    for index in range(len(record) - 1, -1, -1):
        layer = record[index]
        if layer.kind in ("linear", "conv", "pool"):
            if layer.kind == "linear":
                y = norm(linear_backward(y, layer.module))
                rectify = positivise
            elif layer.kind == "conv":
                y = norm(conv_backward_loop(y, layer.module, layer.input_shape, literal))
                rectify = positivise_conv
            else:
                y = norm(unpool_loop(y, layer.indices, layer.input_shape, literal))
                rectify, pending = positivise_conv or pending, False
            if (defer_to_unpool and rectify and index in next_back
                    and record[next_back[index]].kind == "pool"):
                rectify, pending = False, True
            if rectify:
                y = y.clamp_min(0.0)
        elif layer.kind == "avgpool":
            y = avgpool_backward_loop(y, layer.input_shape)
        elif layer.kind == "flatten":
            y = y.reshape(layer.input_shape)
        # relu, dropout: nothing (rectification is the options' business)
    return y


def recollect(model: nn.Module, image: Tensor, target: int | None = None, **options) -> Tensor:
    """Forward then backward for one C×H×W image; returns the C×H×W reconstruction."""
    return retrace(forward_recorded(model, image), target, **options)
