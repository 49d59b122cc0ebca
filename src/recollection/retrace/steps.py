"""Backward steps: the transpose of each forward layer, one vectorised op per step.

Every function takes the backward signal ``y`` shaped like the layer's output (batch
first) and returns a tensor shaped like the layer's input. Biases are ignored.
"""

from __future__ import annotations

import weakref
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError
from .options import UNPOOL_CHOICES


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def transposed_size(out: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Size that a transposed conv/pool produces without output padding."""
    return (out - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1


def output_padding(in_hw: Sequence[int], out_hw: Sequence[int], kernel, stride, padding, dilation) -> tuple[int, int]:
    """The ``output_padding`` that restores the forward input size exactly (AlexNet conv1: 224, not 223)."""
    k, s, p, d = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
    return tuple(in_hw[i] - transposed_size(out_hw[i], k[i], s[i], p[i], d[i]) for i in range(2))  # type: ignore[return-value]


def _fits_output_padding(op: Sequence[int], stride, dilation) -> bool:
    s, d = _pair(stride), _pair(dilation)
    return all(0 <= op[i] < max(s[i], d[i]) for i in range(2))


def _fit(x: Tensor, hw: Sequence[int]) -> Tensor:
    """Crop or zero-pad the bottom/right edge to ``hw`` (ceil-mode pools overhang the input)."""
    dh, dw = hw[0] - x.shape[-2], hw[1] - x.shape[-1]
    return x if dh == dw == 0 else F.pad(x, (0, dw, 0, dh))


def conv_padding(conv: nn.Conv2d) -> tuple[int, int]:
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0)
        eff = [d * (k - 1) for k, d in zip(conv.kernel_size, conv.dilation)]
        if any(e % 2 for e in eff):
            raise ModelError(f"padding='same' with an even kernel {conv.kernel_size} is asymmetric and cannot be inverted")
        return (eff[0] // 2, eff[1] // 2)
    return _pair(conv.padding)


def linear_backward(y: Tensor, weight: Tensor, input_shape: Sequence[int]) -> Tensor:
    """x̂ = Wᵀ ŷ, reshaped to the input the layer saw (which may have been a flattened map)."""
    return (y @ weight).reshape(input_shape)


_DERIVED: dict[tuple[int, str], tuple] = {}  # (id(weight), form) -> (key, derived weights); dropped with the weight


def _derived(weight: Tensor, form: str, make) -> Tensor:
    """``make(weight)``, cached beside the model (never on it) until the weight changes."""
    key = (weight.data_ptr(), weight._version, weight.device, weight.dtype)
    slot = (id(weight), form)
    cached = _DERIVED.get(slot)
    if cached is None or cached[0] != key:
        if slot not in _DERIVED:
            weakref.finalize(weight, _DERIVED.pop, slot, None)
        cached = (key, make(weight.detach()))
        _DERIVED[slot] = cached
    return cached[1]


def phase_weight(conv: nn.Conv2d) -> tuple[Tensor, int]:
    """Weights (C_in·s², C_out, T, T), T = ceil(k / s), for the phase form of a transposed conv.

    Output channel c·s² + r·s + r' holds the flipped taps W[:, c, s·t + r, s·t' + r'] that
    land on output phase (r, r').
    """
    stride, k = conv.stride[0], conv.weight.shape[-1]
    t = -(-k // stride)

    def make(weight: Tensor) -> Tensor:
        o, ci = weight.shape[:2]
        padded = F.pad(weight, (0, stride * t - k, 0, stride * t - k))
        phases = padded.view(o, ci, t, stride, t, stride).permute(1, 3, 5, 0, 2, 4)
        return phases.flip(4, 5).reshape(ci * stride * stride, o, t, t).contiguous()

    return _derived(conv.weight, f"phase{stride}", make), t


def flipped_weight(conv: nn.Conv2d) -> Tensor:
    """Weights (C_in, C_out/g, kh, kw), flipped: a stride-1 transposed conv is a conv with them."""
    g = conv.groups

    def make(weight: Tensor) -> Tensor:
        o, ci, kh, kw = weight.shape
        grouped = weight.view(g, o // g, ci, kh, kw).transpose(1, 2)
        return grouped.reshape(g * ci, o // g, kh, kw).flip(2, 3).contiguous()

    return _derived(conv.weight, "flipped", make)


def _uses_direct_form(conv, padding: tuple[int, int]) -> bool:
    """Stride-1 convs: CPU conv_transpose2d takes a slow path there, conv2d does not."""
    return tuple(conv.stride) == (1, 1) and all(
        d * (k - 1) - p >= 0 for k, p, d in zip(conv.weight.shape[-2:], padding, conv.dilation))


def conv_backward_direct(y: Tensor, conv, padding: tuple[int, int]) -> Tensor:
    """A stride-1 transposed conv as the conv with flipped, transposed weights and the padding it leaves."""
    pad = tuple(d * (k - 1) - p for k, p, d in zip(conv.weight.shape[-2:], padding, conv.dilation))
    return F.conv2d(y, flipped_weight(conv), padding=pad, dilation=conv.dilation, groups=conv.groups)


def _uses_phase_form(conv: nn.Conv2d) -> bool:
    """Strided, square, ungrouped, undilated convs whose kernel spans at least two strides (AlexNet's
    conv1, ResNet's stem): the phase form wastes little there, and beats the alternatives on CPU."""
    s, k = conv.stride, conv.kernel_size
    return s[0] == s[1] > 1 and k[0] == k[1] >= 2 * s[0] and conv.groups == 1 and tuple(conv.dilation) == (1, 1)


def conv_backward_phase(y: Tensor, conv: nn.Conv2d, padding: tuple[int, int], in_hw: Sequence[int]) -> Tensor:
    """The transposed conv as one stride-1 ``conv2d`` over s² output phases, ``pixel_shuffle``, crop."""
    s = conv.stride[0]
    w, t = phase_weight(conv)
    z = F.pixel_shuffle(F.conv2d(y, w, padding=t - 1), s)
    z = z[:, :, padding[0]:padding[0] + in_hw[0], padding[1]:padding[1] + in_hw[1]]
    return _fit(z, in_hw).contiguous()


MIN_DIRECT_CHANNELS = 16  # below this many result channels (the image's), conv2d is slow on CPU


def conv_backward(y: Tensor, conv: nn.Conv2d, input_shape: Sequence[int]) -> Tensor:
    """Transposed convolution with the forward weights, stride, padding, dilation and groups.

    Three forms of the same operation, whichever is fastest on CPU for the geometry: a conv2d with
    flipped weights (stride 1), the phase form (AlexNet's conv1, ResNet's stem), else autograd's own
    input-gradient kernel (``convolution_backward``: the exact adjoint, sizes included).
    """
    if conv.padding_mode != "zeros":
        raise ModelError(f"conv padding_mode={conv.padding_mode!r} is not supported; only 'zeros'")
    padding = conv_padding(conv)
    if _uses_direct_form(conv, padding) and conv.weight.shape[1] * conv.groups >= MIN_DIRECT_CHANNELS:
        return conv_backward_direct(y, conv, padding)
    if _uses_phase_form(conv):
        return conv_backward_phase(y, conv, padding, input_shape[-2:])
    shape = (y.shape[0], *input_shape[1:])
    return torch.ops.aten.convolution_backward(
        y.contiguous(), y.new_empty(shape), conv.weight.detach(), None, list(conv.stride), list(padding),
        list(conv.dilation), False, [0, 0], conv.groups, [True, False, False])[0]


def unpool_switches(y: Tensor, switches: Tensor, input_shape: Sequence[int]) -> Tensor:
    """Put each value back where the forward max came from; overlapping windows add up.

    Adding (rather than overwriting, as ``max_unpool2d`` does) makes this the exact
    transpose of max pooling with fixed switches, and deterministic on every device.
    """
    n, c = y.shape[:2]
    out = y.new_zeros(n, c, input_shape[-2] * input_shape[-1])
    out.scatter_add_(2, switches.flatten(2), y.flatten(2))
    return out.view(n, c, input_shape[-2], input_shape[-1])


def unpool_overwrite(y: Tensor, switches: Tensor, input_shape: Sequence[int]) -> Tensor:
    """``MaxUnpool2d`` (the research notebook's unpool): each value written at its switch; where
    overlapping windows chose the same position, the last window in row-major order wins.

    Not the adjoint of max pooling (overwritten values are lost). Computed as "which window
    wrote last" (a scatter-max of window numbers), so it is deterministic on every device.
    """
    n, c = y.shape[:2]
    hw = input_shape[-2] * input_shape[-1]
    index = switches.flatten(2)
    windows = torch.arange(index.shape[-1], device=y.device).expand_as(index)
    last = torch.full((n, c, hw), -1, dtype=torch.long, device=y.device)
    last.scatter_reduce_(2, index, windows, reduce="amax")
    written = last >= 0
    out = y.flatten(2).gather(2, last.clamp_min(0)) * written
    return out.view(n, c, input_shape[-2], input_shape[-1])


def unpool_upsample(y: Tensor, input_shape: Sequence[int]) -> Tensor:
    """Nearest-neighbour upsampling (×stride) to the exact input size."""
    return F.interpolate(y, size=tuple(input_shape[-2:]), mode="nearest")


def _pool_geometry(pool: nn.MaxPool2d):
    return _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size), _pair(pool.padding), _pair(pool.dilation)


def unpool_random(y: Tensor, pool: nn.MaxPool2d, input_shape: Sequence[int], generator: torch.Generator) -> Tensor:
    """Send each value to a random position of its pooling window (a switch-free control).

    Only positions inside the input are drawn (never the padding), each with equal chance.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pool_geometry(pool)
    n, c, ho, wo = y.shape
    hi_, wi = input_shape[-2:]

    def axis(n_out: int, size: int, k: int, s: int, p: int, d: int) -> Tensor:
        base = torch.arange(n_out, device=y.device) * s - p
        first = torch.div(-base + d - 1, d, rounding_mode="floor").clamp(0, k - 1)
        last = torch.maximum(torch.div(size - 1 - base, d, rounding_mode="floor").clamp(0, k - 1), first)
        return base, first, last - first + 1

    rb, rf, rn = axis(ho, hi_, kh, sh, ph, dh)
    cb, cf, cn = axis(wo, wi, kw, sw, pw, dw)
    ur = torch.rand((n, c, ho, wo), generator=generator, device=y.device)
    uc = torch.rand((n, c, ho, wo), generator=generator, device=y.device)
    tr = rf.view(1, 1, ho, 1) + (ur * rn.view(1, 1, ho, 1)).long().clamp_max(rn.view(1, 1, ho, 1) - 1)
    tc = cf.view(1, 1, 1, wo) + (uc * cn.view(1, 1, 1, wo)).long().clamp_max(cn.view(1, 1, 1, wo) - 1)
    rows = (rb.view(1, 1, ho, 1) + tr * dh).clamp(0, hi_ - 1)
    cols = (cb.view(1, 1, 1, wo) + tc * dw).clamp(0, wi - 1)
    return unpool_switches(y, rows * wi + cols, input_shape)


def unpool_distribute(y: Tensor, pool: nn.MaxPool2d, input_shape: Sequence[int]) -> Tensor:
    """Copy each value to every position of its pooling window (overlaps add up)."""
    k, s, p, d = _pool_geometry(pool)
    c = y.shape[1]
    ones = y.new_ones(c, 1, *k)
    in_hw = input_shape[-2:]
    op = output_padding(in_hw, y.shape[-2:], k, s, p, d)
    if _fits_output_padding(op, s, d):
        return F.conv_transpose2d(y, ones, stride=s, padding=p, output_padding=op, groups=c, dilation=d)
    return _fit(F.conv_transpose2d(y, ones, stride=s, padding=p, groups=c, dilation=d), in_hw)


def adaptive_avgpool_backward(y: Tensor, input_shape: Sequence[int]) -> Tensor:
    """Identity when the map already has the pooled size (AlexNet at 224 px); else the adjoint."""
    if tuple(y.shape[-2:]) == tuple(input_shape[-2:]):
        return y
    return torch.ops.aten._adaptive_avg_pool2d_backward(y.contiguous(), y.new_empty(tuple(input_shape)))


def avgpool_backward(y: Tensor, pool, input_shape: Sequence[int]) -> Tensor:
    """The adjoint of a fixed-window average pool (each value spread evenly over its window)."""
    k = _pair(pool.kernel_size)
    s = _pair(pool.stride or pool.kernel_size)
    return torch.ops.aten.avg_pool2d_backward(y.contiguous(), y.new_empty(tuple(input_shape)), list(k), list(s),
                                              list(_pair(pool.padding)), pool.ceil_mode, pool.count_include_pad,
                                              pool.divisor_override)


def batchnorm_backward(y: Tensor, scale: Tensor) -> Tensor:
    """BatchNorm in evaluation mode is x·(γ/σ) + const per channel: its adjoint scales by γ/σ."""
    return y * scale.view(1, -1, *([1] * (y.dim() - 2)))


def sum_to(y: Tensor, shape: Sequence[int]) -> Tensor:
    """The adjoint of broadcasting: sum over the dimensions an operand was broadcast along."""
    return y if tuple(y.shape) == tuple(shape) else y.sum_to_size(tuple(shape))


UNPOOL_MODES = tuple(UNPOOL_CHOICES)  # declared, with their help, in options.py
