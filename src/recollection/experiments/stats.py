"""Estimation statistics over a results table: mean differences with bootstrap confidence intervals,
paired where the study pairs its points, and the validation-then-test selections."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RecollectionError
from .runner import LOG, META, ResultLog


@dataclass
class Results:
    """A finished (or partly finished) study: its meta data and one row per point done."""

    out: Path
    meta: dict
    rows: list[dict]  # params and metrics merged; failed points excluded
    failures: list[dict]

    @property
    def metrics(self) -> list[str]:
        return self.meta["metrics"]

    @property
    def params(self) -> list[str]:
        return self.meta["params"]

    def column(self, name: str, rows: list[dict] | None = None) -> np.ndarray:
        return np.array([r[name] for r in (self.rows if rows is None else rows) if r.get(name) is not None])

    def numeric_metrics(self) -> list[str]:
        return [m for m in self.metrics if self.rows and isinstance(self.rows[0].get(m), (int, float))
                and not isinstance(self.rows[0].get(m), bool)]


def load_results(out: str | Path) -> Results:
    out = Path(out)
    if not (out / META).exists():
        raise RecollectionError(f"{out}: not a results directory of `recollect run` (no {META})")
    meta = json.loads((out / META).read_text())
    records = ResultLog(out / LOG).read()
    rows, failures = [], []
    for h in meta["points"]:
        r = records.get(h)
        if r is None:
            continue
        if r["error"]:
            failures.append(r)
        else:
            rows.append({"hash": h, **r["params"], **(r["metrics"] or {}), "seconds": r.get("seconds", 0.0)})
    return Results(out, meta, rows, failures)


@dataclass
class Estimate:
    """``mean(a) − mean(b)`` with its bootstrap confidence interval."""

    name: str
    a_label: str
    b_label: str
    a: np.ndarray
    b: np.ndarray
    paired: bool
    difference: float
    low: float
    high: float
    level: float
    boot: np.ndarray = field(repr=False)

    def as_dict(self) -> dict:
        return {"name": self.name, "a": self.a_label, "b": self.b_label, "n_a": int(self.a.size), "n_b": int(self.b.size),
                "mean_a": float(self.a.mean()), "mean_b": float(self.b.mean()), "paired": self.paired,
                "difference": self.difference, "ci_low": self.low, "ci_high": self.high, "level": self.level}


def bootstrap_difference(a: np.ndarray, b: np.ndarray, paired: bool, resamples: int = 10_000, level: float = 0.95,
                         seed: int = 0) -> tuple[float, float, float, np.ndarray]:
    """Mean difference and its percentile bootstrap interval; paired resamples the differences."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    if paired:
        if a.shape != b.shape:
            raise ValueError("paired samples must have the same length")
        d = a - b
        boot = d[rng.integers(0, d.size, (resamples, d.size))].mean(axis=1)
        estimate = float(d.mean())
    else:
        boot = (a[rng.integers(0, a.size, (resamples, a.size))].mean(axis=1)
                - b[rng.integers(0, b.size, (resamples, b.size))].mean(axis=1))
        estimate = float(a.mean() - b.mean())
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail])
    return estimate, float(low), float(high), boot


def comparison_samples(results: Results, comparison: dict) -> tuple[np.ndarray, np.ndarray, bool, str, str]:
    """The two samples a comparison declares, paired row by row or on every other parameter."""
    rows = results.rows
    if not comparison.get("param"):
        rows = [r for r in rows if r.get(comparison["a"]) is not None and r.get(comparison["b"]) is not None]
        a = np.array([r[comparison["a"]] for r in rows], float)
        b = np.array([r[comparison["b"]] for r in rows], float)
        return a, b, True, str(comparison["a"]), str(comparison["b"])
    param, metric = comparison["param"], comparison["metric"]
    others = [p for p in results.meta["varying"] if p not in (param, "seed")]
    pick = lambda value: {tuple(json.dumps(r.get(o)) for o in others): r[metric]
                          for r in rows if r.get(param) == value and r.get(metric) is not None}
    side_a, side_b = pick(comparison["a"]), pick(comparison["b"])
    label_a, label_b = f"{param} = {comparison['a']}", f"{param} = {comparison['b']}"
    if comparison.get("paired", True):
        keys = [k for k in side_a if k in side_b]
        return (np.array([side_a[k] for k in keys], float), np.array([side_b[k] for k in keys], float), True,
                label_a, label_b)
    return np.array(list(side_a.values()), float), np.array(list(side_b.values()), float), False, label_a, label_b


def estimates(results: Results, seed: int = 0) -> list[Estimate]:
    out = []
    for c in results.meta["comparisons"]:
        a, b, paired, la, lb = comparison_samples(results, c)
        if a.size == 0 or b.size == 0:
            continue
        d, low, high, boot = bootstrap_difference(a, b, paired, seed=seed)
        out.append(Estimate(c["name"], la, lb, a, b, paired, d, low, high, 0.95, boot))
    return out


def selections(results: Results) -> list[dict]:
    """For each [[select]]: the best point by the validation metric, within each group, and its report
    metrics (averaged over repeats of the same configuration first)."""
    chosen = []
    for s in results.meta["selections"]:
        config_keys = [p for p in results.meta["varying"] if p not in ("repeat", "seed", *s["by"])]
        groups: dict[tuple, dict[tuple, list[dict]]] = {}
        for r in results.rows:
            g = tuple(r.get(k) for k in s["by"])
            groups.setdefault(g, {}).setdefault(tuple(r.get(k) for k in config_keys), []).append(r)
        for g, configs in groups.items():
            mean = lambda rows, m: float(np.mean([r[m] for r in rows]))
            scored = {cfg: mean(rows, s["metric"]) for cfg, rows in configs.items()}
            best = (max if s["larger_is_better"] else min)(scored, key=scored.get)
            chosen.append({
                "group": dict(zip(s["by"], g)), "metric": s["metric"], "value": scored[best],
                "config": dict(zip(config_keys, best)), "candidates": len(scored),
                "report": {m: mean(configs[best], m) for m in s["report"]},
            })
    return chosen


def paper_rows(results: Results) -> list[dict]:
    """[paper] entries ``"metric.stat[@param=value,...]" = number`` beside our value."""
    rows = []
    for key, theirs in results.meta["paper"].items():
        spec, _, where = key.partition("@")
        metric, _, stat = spec.partition(".")
        stat = stat or "mean"
        subset = results.rows
        for cond in filter(None, where.split(",")):
            name, _, value = cond.partition("=")
            subset = [r for r in subset if str(r.get(name.strip())).lower() == value.strip().lower()
                      or _same_number(r.get(name.strip()), value)]
        values = results.column(metric, subset) if metric in results.metrics else np.array([])
        ours = None
        if values.size and stat in ("mean", "median", "max", "min", "sd"):
            ours = float({"mean": np.mean, "median": np.median, "max": np.max, "min": np.min,
                          "sd": lambda v: np.std(v, ddof=1) if v.size > 1 else 0.0}[stat](values.astype(float)))
        rows.append({"what": key, "paper": theirs, "ours": ours, "n": int(values.size)})
    return rows


def _same_number(value, text: str) -> bool:
    try:
        return isinstance(value, (int, float)) and float(text) == float(value)
    except ValueError:
        return False


def marginal_means(results: Results, metric: str, max_values: int = 16) -> dict[str, list[tuple]]:
    """Mean, 95 % interval half-width and count of ``metric`` for each value of each varying parameter."""
    out = {}
    for p in results.meta["varying"]:
        if p in ("repeat", "seed"):
            continue
        values = list(dict.fromkeys(r.get(p) for r in results.rows))
        if len(values) > max_values:
            continue
        stats = []
        for v in values:
            x = np.array([r[metric] for r in results.rows if r.get(p) == v and r.get(metric) is not None], float)
            if x.size:
                half = 1.96 * x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else 0.0
                stats.append((v, float(x.mean()), float(half), int(x.size)))
        out[p] = stats
    return out
