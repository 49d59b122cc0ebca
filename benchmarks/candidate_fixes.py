"""Prototypes of two speed fixes for the retrace engine, measured by ``bench_retrace.py --profile``.

They live here, not in ``src/``, so that the benchmark can show what they would gain (and
check that they compute the same thing) without touching the engine. ``patched()`` swaps
them into the engine for the duration of a ``with`` block.

(Fix 1 has since moved into the engine, ``steps.conv_backward_phase``; fix 2 went into
``normalize.py`` in its own form. The profile still shows both next to the plain ops.)

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
from torch import Tensor, nn

from recollection.retrace import engine as E
from recollection.retrace import steps as S
from recollection.retrace.normalize import normalize as normalize_reference

_engine_conv_backward = S.conv_backward  # kept before ``patched`` swaps it


def conv_backward_phase(y: Tensor, conv: nn.Conv2d, input_shape) -> Tensor:
    """The phase form of fix 1 (now the engine's own, ``steps.conv_backward_phase``) where it applies."""
    if not S._uses_phase_form(conv):
        return _engine_conv_backward(y, conv, input_shape)
    return S.conv_backward_phase(y, conv, S.conv_padding(conv), input_shape[-2:])


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
