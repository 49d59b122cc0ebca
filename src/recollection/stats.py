"""The one place where the toolkit estimates a mean or a difference of means with its interval.

Used by the study reports, their ``stats.json`` and the CLI's summaries, so a number means the same
thing everywhere. Intervals come from :func:`scipy.stats.bootstrap`: BCa where there are enough
points for a stable acceleration estimate, percentile otherwise, and none at all below
:data:`MIN_INTERVAL_N` points (the points themselves are shown instead). An interval never leaves
the metric's range: accuracies stay in [0, 1], correlations in [−1, 1].

Neutral: NumPy and SciPy only, no imports from the front ends.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

Bounds = tuple[float, float] | None
Values = Sequence[float] | np.ndarray  # a list of numbers or any NumPy array of them
MIN_INTERVAL_N = 3  # below this, no interval: the points themselves are shown
MIN_BCA_N = 10  # below this, the jackknife acceleration of BCa is too unstable: percentile
RESAMPLES = 10_000
LEVEL = 0.95
ACCURACY: Bounds = (0.0, 1.0)
CORRELATION: Bounds = (-1.0, 1.0)


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval (``low``/``high`` None when n is too small for one)."""

    estimate: float
    low: float | None
    high: float | None
    n: int
    method: str  # "bca", "percentile", "exact" (every value equal), "points" (n < 3: no interval), "none" (n = 0)
    level: float = LEVEL
    clipped: bool = False  # the raw interval left the metric's range and was clipped to it

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def text(self, digits: int = 4, signed: bool = False) -> str:
        """``[0.1234, 0.5678]``, or why there is no interval."""
        if self.n == 0:
            return "no data"
        if not self.has_interval:
            return f"n = {self.n} < {MIN_INTERVAL_N}: no interval"
        sign = "+" if signed else ""
        return f"[{self.low:{sign}.{digits}f}, {self.high:{sign}.{digits}f}]"

    def as_dict(self) -> dict:
        return {"estimate": None if self.n == 0 else self.estimate, "ci_low": self.low, "ci_high": self.high,
                "n": self.n, "method": self.method, "level": self.level, "clipped": self.clipped}


@dataclass(frozen=True)
class Difference:
    """``mean(a) − mean(b)`` (paired: the mean of the differences) with its interval and, for plots,
    the bootstrap distribution of the difference (empty when there is no interval)."""

    interval: Interval
    paired: bool
    boot: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))


def difference_bounds(bounds: Bounds) -> Bounds:
    """The range of a difference of two values in ``bounds``: [lo − hi, hi − lo]."""
    return None if bounds is None else (bounds[0] - bounds[1], bounds[1] - bounds[0])


def mean_interval(values: Values, bounds: Bounds = None, *, level: float = LEVEL,
                  resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The mean with its bootstrap interval, clipped to ``bounds`` (the metric's range)."""
    x = _clean(values)
    if x.size == 0:
        return Interval(math.nan, None, None, 0, "none", level)
    estimate = float(x.mean())
    if x.size < MIN_INTERVAL_N:
        return Interval(estimate, None, None, int(x.size), "points", level)
    if np.ptp(x) == 0:
        return Interval(estimate, estimate, estimate, int(x.size), "exact", level)
    low, high, method, _ = _bootstrap((x,), _mean, x.size, level, resamples, seed)
    return _clip(Interval(estimate, low, high, int(x.size), method, level), bounds)


def difference_interval(a: Values, b: Values, paired: bool, bounds: Bounds = None, *,
                        level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> Difference:
    """``mean(a) − mean(b)`` with its bootstrap interval; ``bounds`` is the range of the metric itself
    (the difference is clipped to [lo − hi, hi − lo]). Paired: the differences are resampled."""
    samples: tuple[np.ndarray, ...]
    if paired:
        xa, xb = np.asarray(a, float), np.asarray(b, float)
        if xa.shape != xb.shape:
            raise ValueError(f"paired samples must have the same length ({xa.size} ≠ {xb.size})")
        keep = np.isfinite(xa) & np.isfinite(xb)
        d = xa[keep] - xb[keep]
        samples, n, estimate = (d,), int(d.size), float(d.mean()) if d.size else math.nan
        constant = bool(d.size) and bool(np.ptp(d) == 0)
    else:
        xa, xb = _clean(a), _clean(b)
        samples, n = (xa, xb), int(min(xa.size, xb.size))
        estimate = float(xa.mean() - xb.mean()) if n else math.nan
        constant = bool(n) and bool(np.ptp(xa) == 0) and bool(np.ptp(xb) == 0)
    if n == 0:
        return Difference(Interval(math.nan, None, None, 0, "none", level), paired)
    if n < MIN_INTERVAL_N:
        return Difference(Interval(estimate, None, None, n, "points", level), paired)
    if constant:
        return Difference(Interval(estimate, estimate, estimate, n, "exact", level), paired, np.full(1, estimate))
    statistic = _mean if paired else _mean_difference
    low, high, method, boot = _bootstrap(samples, statistic, n, level, resamples, seed)
    return Difference(_clip(Interval(estimate, low, high, n, method, level), difference_bounds(bounds)), paired, boot)


def summary(values: Values, bounds: Bounds = None, *, level: float = LEVEL, seed: int = 0) -> dict:
    """n, mean with its interval, median, sd, min and max of a list of values (e.g. accuracies)."""
    x = _clean(values)
    if x.size == 0:
        return {"n": 0}
    ci = mean_interval(x, bounds, level=level, seed=seed)
    return {"n": int(x.size), "mean": float(x.mean()), "ci_low": ci.low, "ci_high": ci.high, "ci_method": ci.method,
            "level": level, "median": float(np.median(x)), "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "min": float(x.min()), "max": float(x.max())}


# --- internals ----------------------------------------------------------------------------------
def _clean(values: Values) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x.mean(axis=axis)


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return a.mean(axis=axis) - b.mean(axis=axis)


def _bootstrap(samples: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], n: int, level: float, resamples: int,
               seed: int) -> tuple[float, float, str, np.ndarray]:
    """BCa when n allows (falling back to percentile where BCa is undefined), percentile otherwise."""
    from scipy import stats

    seeding = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"  # SciPy < 1.15
    methods = ("BCa", "percentile") if n >= MIN_BCA_N else ("percentile",)
    biggest = max(s.size for s in samples)
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate-data warnings: handled by the fallback below
            try:
                result = stats.bootstrap(samples, statistic, n_resamples=resamples, vectorized=True, paired=False,
                                         confidence_level=level, method=method, batch=max(1, 4_000_000 // biggest),
                                         **{seeding: np.random.default_rng(seed)})
            except ValueError:
                continue
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return low, high, method.lower(), np.asarray(result.bootstrap_distribution, float)
    raise ValueError("the bootstrap gave no finite interval")  # pragma: no cover - percentile is always finite


def _clip(interval: Interval, bounds: Bounds) -> Interval:
    if bounds is None or interval.low is None or interval.high is None:  # no interval: nothing to clip
        return interval
    lo, hi = bounds
    low, high = max(interval.low, lo), min(interval.high, hi)
    if (low, high) == (interval.low, interval.high):
        return interval
    return Interval(interval.estimate, low, high, interval.n, interval.method, interval.level, clipped=True)
