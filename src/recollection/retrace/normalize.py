"""Normalisations applied after each backward step, and the views of the final map.

"Local" statistics are per sample over the features of a dense map (or of a 1×1 conv map),
and per sample and channel over H×W of a conv map; "global" ones are per sample over the
whole tensor.
Every image of a batch is normalised on its own, as if it had been run alone.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from .options import VIEW_CHOICES

RELATIVE_TOLERANCE = 1e-6  # a spread below this fraction of the sample's largest value is rounding noise


def _groups(x: Tensor, local: bool) -> tuple[Tensor, Tensor]:
    """``x`` as (groups, values) rows — per sample, or per sample and channel for local conv
    statistics — and each row's sample scale (max |x| over the sample)."""
    n = x.shape[0]
    per_sample = x.reshape(n, -1)
    # max |x| as max(max x, −min x): two cheap reductions, where |x| would first copy the whole map
    scale = torch.maximum(per_sample.amax(dim=1, keepdim=True), per_sample.amin(dim=1, keepdim=True).neg_())
    if local and x.dim() == 4 and x.shape[2] * x.shape[3] > 1:  # a 1×1 map (ResNet's pooled map) is a vector
        return x.reshape(n * x.shape[1], -1), scale.repeat_interleave(x.shape[1], dim=0)
    return per_sample, scale


def _inverse(spread: Tensor, scale: Tensor) -> Tensor:
    """1 / spread, or 0 where the spread is nil next to the sample's scale.

    A constant map (or one whose only content is float rounding residue) normalises to
    zeros rather than NaN or a full-scale spike whose sign depends on summation order.
    """
    meaningful = spread > RELATIVE_TOLERANCE * scale
    return torch.where(meaningful, 1.0 / spread.clamp_min(torch.finfo(spread.dtype).tiny), 0.0)


def zscore(x: Tensor, local: bool = False, gain: float = 1.0, inplace: bool = False) -> Tensor:
    """gain·(x − mean)/std (``gain`` folded into the one multiplication: one pass fewer for rescale_std)."""
    rows, scale = _groups(x, local)
    mean = rows.mean(dim=1, keepdim=True)
    centred = rows.sub_(mean) if inplace else rows - mean
    std = torch.linalg.vector_norm(centred, dim=1, keepdim=True) / math.sqrt(rows.shape[1])
    factor = _inverse(std, scale)
    return centred.mul_(factor if gain == 1.0 else factor * gain).view(x.shape)


def minmax(x: Tensor, local: bool = False, inplace: bool = False) -> Tensor:
    rows, scale = _groups(x, local)
    lo = rows.amin(dim=1, keepdim=True)
    hi = rows.amax(dim=1, keepdim=True)
    shifted = rows.sub_(lo) if inplace else rows - lo
    return shifted.mul_(_inverse(hi - lo, scale)).view(x.shape)


def rescale(z: Tensor) -> Tensor:
    """clip(0.1·z + 0.5, 0, 1): the research code's mapping of a z-score into [0, 1] (in place)."""
    return z.mul_(0.1).add_(0.5).clamp_(0.0, 1.0)


def rescaled_zscore(x: Tensor, local: bool = False, inplace: bool = False) -> Tensor:
    """``rescale(zscore(x))`` with the 0.1 folded into the z-score's multiplication."""
    return zscore(x, local, gain=0.1, inplace=inplace).add_(0.5).clamp_(0.0, 1.0)


NORMALIZATIONS: dict[str, Callable[[Tensor, bool], Tensor]] = {  # (map, may overwrite it) -> normalised map
    "std": lambda x, inplace: zscore(x, local=True, inplace=inplace),
    "std_global": lambda x, inplace: zscore(x, inplace=inplace),
    "rescale_std": lambda x, inplace: rescaled_zscore(x, inplace=inplace),
    "rescale_std_local": lambda x, inplace: rescaled_zscore(x, local=True, inplace=inplace),
    "minmax": lambda x, inplace: minmax(x, inplace=inplace),
    "minmax_local": lambda x, inplace: minmax(x, local=True, inplace=inplace),
    "minmax_rescale": lambda x, inplace: minmax(x, inplace=inplace).mul_(2.0).sub_(1.0),
    "minmax_01_05_rescale": lambda x, inplace: rescale(minmax(x, inplace=inplace)),
}


def finite(x: Tensor) -> Tensor:
    """NaN and ±inf replaced by 0; a cheap all-finite check first (the usual case)."""
    if bool(torch.isfinite(x.reshape(-1).sum())):
        return x
    return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def normalize(x: Tensor, method: str | None, *, inplace: bool = False) -> Tensor:
    """Apply one of NORMALIZATIONS (or nothing for None); never returns NaN or inf.

    ``inplace=True`` lets it overwrite ``x`` instead of copying it (the engine passes the fresh maps its
    backward steps return: for VGG's maps at batch 32 the copy is a noticeable part of the walk back).
    """
    x = finite(x)
    return x if method is None else NORMALIZATIONS[method](x, inplace)


def winner_take_all(x: Tensor) -> Tensor:
    """At every spatial position keep only the channel with the largest value."""
    winners = x.argmax(dim=1, keepdim=True)
    return torch.zeros_like(x).scatter_(1, winners, x.gather(1, winners))


VIEWS = tuple(VIEW_CHOICES)


def view(x: Tensor, name: str, mean: Tensor | None = None, std: Tensor | None = None) -> Tensor:
    """Turn a raw N×C×H×W reconstruction into an image-like tensor.

    ``inverse-transform`` undoes the model's input normalisation (mean/std per channel) and
    clips to [0, 1]; ``std`` returns z-scores (not bounded), the others lie in [0, 1].
    """
    x = finite(x)
    if name == "rescale_std":
        return rescaled_zscore(x)
    if name == "minmax":
        return minmax(x)
    if name == "std":
        return zscore(x)
    if name == "inverse-transform":
        if mean is None or std is None:
            raise ValueError("inverse-transform needs the model's mean and std")
        shape = (1, -1, 1, 1)
        return (x * std.to(x).view(shape) + mean.to(x).view(shape)).clamp(0.0, 1.0)
    raise ValueError(f"unknown view {name!r}; choose from {', '.join(VIEWS)}")
