"""Prototypes of two speed fixes for the retrace engine, measured by ``bench_retrace.py --profile``.

They live here, not in ``src/``, so that the benchmark can show what they would gain (and
check that they compute the same thing) without touching the engine. ``patched()`` swaps
them into the engine for the duration of a ``with`` block.

1. ``conv_backward_phase``: a strided transposed convolution (AlexNet's conv1: k11, s4,
   3 output channels) as one *stride-1* ``conv2d`` with s² × C_in output channels (each
   output phase (r, r') mod s gets the kernel taps that land on it, flipped), followed by
   ``pixel_shuffle(s)`` and a crop of the padding. oneDNN's ``conv_transpose2d`` with 3
   output channels and stride 4 is slow on CPU; this is an ordinary forward convolution.
2. ``normalize_fast``: ``rescale_std`` / ``std_global`` with per-sample statistics from a
   flat ``(N, -1)`` view (``mean``, then ``vector_norm`` of the centred map) instead of
   ``std``/``mean`` over dims (1, 2, 3), done in place, and the two ``nan_to_num`` passes
   replaced by one check of the N standard deviations (a NaN or inf anywhere in the map
   makes them non-finite, and only then is the original, sanitising path taken).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recollection.retrace import engine as E
from recollection.retrace import steps as S
from recollection.retrace.normalize import normalize as normalize_reference

_conv_backward = S.conv_backward  # the original, kept before any patching
_PHASE_CACHE: dict[tuple, tuple[Tensor, int]] = {}


def phase_weight(weight: Tensor, stride: int) -> tuple[Tensor, int]:
    """(C_in·s², C_out, T, T) weights, T = ceil(k / s): output channel c·s² + r·s + r' holds the
    flipped taps W[:, c, s·t + r, s·t' + r'] of the output phase (r, r')."""
    key = (weight.data_ptr(), weight._version, stride, weight.device, weight.dtype)
    if key not in _PHASE_CACHE:
        o, ci, k, _ = weight.shape
        t = -(-k // stride)
        wp = F.pad(weight, (0, stride * t - k, 0, stride * t - k))
        wp = wp.view(o, ci, t, stride, t, stride).permute(1, 3, 5, 0, 2, 4)  # C, r, r', O, t, t'
        _PHASE_CACHE[key] = (wp.flip(4, 5).reshape(ci * stride * stride, o, t, t).contiguous(), t)
    return _PHASE_CACHE[key]


def conv_backward_phase(y: Tensor, conv: nn.Conv2d, input_shape) -> Tensor:
    """Same result as ``steps.conv_backward``; the phase decomposition for square strided
    convs without groups or dilation, the original otherwise."""
    k, s, p = conv.kernel_size, conv.stride, S.conv_padding(conv)
    if (s[0] == 1 and s[1] == 1) or s[0] != s[1] or k[0] != k[1] or conv.groups != 1 \
            or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
        return _conv_backward(y, conv, input_shape)
    w, t = phase_weight(conv.weight, s[0])
    z = F.pixel_shuffle(F.conv2d(y, w, padding=t - 1), s[0])  # the padded input, and a bit more
    h, wd = input_shape[-2:]
    z = z[:, :, p[0]:p[0] + h, p[1]:p[1] + wd]
    if z.shape[-2] < h or z.shape[-1] < wd:  # never for AlexNet; kept for exactness
        z = F.pad(z, (0, wd - z.shape[-1], 0, h - z.shape[-2]))
    return z.contiguous()


def normalize_fast(x: Tensor, method: str | None) -> Tensor:
    if method not in ("rescale_std", "std_global"):
        return normalize_reference(x, method)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    centred = flat - flat.mean(dim=1, keepdim=True)
    std = torch.linalg.vector_norm(centred, dim=1, keepdim=True) / math.sqrt(flat.shape[1])
    if not bool(torch.isfinite(std).all()):
        return normalize_reference(x, method)  # NaN/inf somewhere: the sanitising path
    scale = torch.where(std > 0, 1.0 / torch.where(std > 0, std, torch.ones_like(std)), torch.zeros_like(std))
    if method == "rescale_std":
        out = centred.mul_(scale * 0.1).add_(0.5).clamp_(0.0, 1.0)
    else:
        out = centred.mul_(scale)
    return out.view(x.shape)


@contextlib.contextmanager
def patched(conv: bool = True, norm: bool = True):
    """Use the prototypes inside the engine for the duration of the block."""
    saved = S.conv_backward, E.normalize
    try:
        if conv:
            S.conv_backward = conv_backward_phase
        if norm:
            E.normalize = normalize_fast
        yield
    finally:
        S.conv_backward, E.normalize = saved
