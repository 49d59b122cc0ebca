"""A study's results read back, and its declared comparisons, selections and published figures.

Every interval comes from :mod:`recollection.stats` (bootstrap, clipped to the metric's range, none
below three points). Comparisons pair points on every other parameter; an unpaired comparison uses
only the cells present on both sides, so a union of grids never mixes unlike cells.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import RecollectionError
from ..stats import Bounds, Interval, difference_interval, mean_interval
from .results_dir import LOG, META, Notice, ResultLog, warn

OLD_GRIDS = "all points"  # results written before grid membership was recorded (the report says so)


@dataclass
class Grid:
    """The points of one grid table of the study (a [[grid]] of a union, the [grid], the random search)."""

    label: str
    rows: list[dict]
    varying: list[str]  # parameters that take several values within this table (axes, repeat, seed excluded)
    fixed: dict  # parameters that vary across the study but hold one value in this table


@dataclass
class Results:
    """A finished (or partly finished) study: its meta data and one row per point done."""

    out: Path
    meta: dict
    rows: list[dict]  # params and metrics merged; failed points excluded
    failures: list[dict]
    grids: list[Grid] = field(default_factory=list)
    damaged: int = 0  # lines of the log that could not be read

    @property
    def metrics(self) -> list[str]:
        return self.meta["metrics"]

    @property
    def params(self) -> list[str]:
        return self.meta["params"]

    @property
    def axes(self) -> list[str]:
        """Parameters the data defines (one point per image): the units of observation, not effects."""
        return self.meta.get("axes", [k for k in ("image",) if k in self.meta.get("varying", [])])

    @property
    def design(self) -> tuple[str, ...]:
        """What is not a studied parameter: the data axes, the repeats and their seeds."""
        return (*self.axes, "repeat", "seed")

    def bounds(self, metric: str) -> Bounds:
        """The metric's range (accuracies [0, 1], r [−1, 1]), as its engine declares it."""
        ranges = self.meta.get("metric_ranges")
        if ranges is None:
            from .engines import engines

            engine = engines().get(self.meta["study"]["engine"])
            ranges = engine.metric_ranges if engine else {}
        value = ranges.get(metric)
        return (float(value[0]), float(value[1])) if value else None

    def column(self, name: str, rows: list[dict] | None = None) -> np.ndarray:
        return np.array([r[name] for r in (self.rows if rows is None else rows) if r.get(name) is not None])

    def numeric_metrics(self) -> list[str]:
        return [m for m in self.metrics if self.rows and isinstance(self.rows[0].get(m), (int, float))
                and not isinstance(self.rows[0].get(m), bool)]


def load_results(out: str | Path, notice: Notice = warn) -> Results:
    out = Path(out)
    if not (out / META).exists():
        raise RecollectionError(f"{out}: not a results directory of `recollect run` (no {META})")
    try:
        meta = json.loads((out / META).read_bytes().decode("utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("points"), list):
            raise ValueError("not the meta data of a study")
    except (OSError, ValueError) as e:
        raise RecollectionError(f"{out / META}: unreadable ({e}); rerun the study to rewrite it") from None
    log = ResultLog(out / LOG)
    records = log.read()
    warning = log.warning()
    if warning:
        notice(warning)
    rows: list[dict] = []
    failures: list[dict] = []
    where: dict[str, int] = {}
    for h in meta["points"]:
        r = records.get(h)
        if r is None:
            continue
        if r["error"]:
            failures.append(r)
        else:
            where[h] = len(rows)
            rows.append({"hash": h, **r["params"], **(r["metrics"] or {}), "seconds": r.get("seconds", 0.0)})
    results = Results(out, meta, rows, failures, damaged=len(log.damaged))
    tables = meta.get("grids") or [{"label": OLD_GRIDS, "points": list(range(len(meta["points"])))}]
    for table in tables:
        members = [rows[where[meta["points"][i]]] for i in table["points"] if meta["points"][i] in where]
        results.grids.append(describe_grid(results, table["label"], members))
    return results


def describe_grid(results: Results, label: str, rows: list[dict]) -> Grid:
    study_varying = [p for p in results.meta.get("varying", []) if p not in results.design]
    distinct = {p: list(dict.fromkeys(json.dumps(r.get(p), sort_keys=True) for r in rows)) for p in study_varying}
    varying = [p for p in study_varying if len(distinct[p]) > 1]
    fixed = {p: rows[0].get(p) for p in study_varying if len(distinct[p]) == 1} if rows else {}
    return Grid(label, rows, varying, fixed)


def same_value(value: object, text: Any) -> bool:
    """A row's value equals a value written in the study file (``1`` matches ``1.0``, ``true`` ``True``)."""
    if str(value).lower() == str(text).strip().lower():
        return True
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and float(text) == float(value)
    except (TypeError, ValueError):
        return False


# --- comparisons ----------------------------------------------------------------------------------
@dataclass
class Estimate:
    """``mean(a) − mean(b)`` of one [[compare]], with its interval."""

    name: str
    metric: str
    a_label: str
    b_label: str
    a: np.ndarray
    b: np.ndarray
    paired: bool
    difference: Interval
    boot: np.ndarray = field(repr=False)
    left_out: int = 0  # rows on either side without a partner (paired) or outside the shared cells (unpaired)

    def as_dict(self) -> dict:
        d = self.difference
        return {"name": self.name, "metric": self.metric, "a": self.a_label, "b": self.b_label, "n_a": int(self.a.size),
                "n_b": int(self.b.size), "mean_a": float(self.a.mean()), "mean_b": float(self.b.mean()),
                "paired": self.paired, "difference": d.estimate, "ci_low": d.low, "ci_high": d.high,
                "ci_method": d.method, "level": d.level, "left_out": self.left_out}


def comparison_samples(results: Results, comparison: dict) -> tuple[np.ndarray, np.ndarray, bool, str, str, int]:
    """The two samples a comparison declares: two metrics of the same rows, or a metric at two values
    of a parameter, paired on every other parameter (or, unpaired, within the cells both sides share)."""
    rows = results.rows
    if not comparison.get("param"):
        both = [r for r in rows if r.get(comparison["a"]) is not None and r.get(comparison["b"]) is not None]
        a = np.array([r[comparison["a"]] for r in both], float)
        b = np.array([r[comparison["b"]] for r in both], float)
        return a, b, True, str(comparison["a"]), str(comparison["b"]), len(rows) - len(both)
    param, metric = comparison["param"], comparison["metric"]
    paired = comparison.get("paired", True)
    others = [p for p in results.meta["varying"] if p not in (param, "seed") and (paired or p != "repeat")]
    key = lambda r: tuple(json.dumps(r.get(o), sort_keys=True) for o in others)
    side = lambda value: [r for r in rows if same_value(r.get(param), value) and r.get(metric) is not None]
    side_a, side_b = side(comparison["a"]), side(comparison["b"])
    label_a, label_b = f"{param} = {comparison['a']}", f"{param} = {comparison['b']}"
    if paired:
        by_a, by_b = {key(r): r[metric] for r in side_a}, {key(r): r[metric] for r in side_b}
        shared = [k for k in by_a if k in by_b]
        left_out = len(side_a) + len(side_b) - 2 * len(shared)
        return (np.array([by_a[k] for k in shared], float), np.array([by_b[k] for k in shared], float), True,
                label_a, label_b, left_out)
    cells = {key(r) for r in side_a} & {key(r) for r in side_b}
    in_a = [r[metric] for r in side_a if key(r) in cells]
    in_b = [r[metric] for r in side_b if key(r) in cells]
    return (np.array(in_a, float), np.array(in_b, float), False, label_a, label_b,
            len(side_a) + len(side_b) - len(in_a) - len(in_b))


def estimates(results: Results, seed: int = 0) -> list[Estimate]:
    out = []
    for c in results.meta["comparisons"]:
        a, b, paired, la, lb, left_out = comparison_samples(results, c)
        if a.size == 0 or b.size == 0:
            continue
        metric = c.get("metric") or c["a"]
        bounds = results.bounds(metric) if c.get("metric") else _shared_bounds(results, c["a"], c["b"])
        d = difference_interval(a, b, paired, bounds, seed=seed)
        out.append(Estimate(c["name"], metric if c.get("metric") else "value", la, lb, a, b, paired, d.interval,
                            d.boot, left_out))
    return out


def _shared_bounds(results: Results, a: str, b: str) -> Bounds:
    ba, bb = results.bounds(a), results.bounds(b)
    return ba if ba == bb else None


# --- selections and the paper ------------------------------------------------------------------
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
            best = (max if s["larger_is_better"] else min)(scored, key=scored.__getitem__)
            chosen.append({
                "group": dict(zip(s["by"], g)), "metric": s["metric"], "value": scored[best],
                "config": dict(zip(config_keys, best)), "candidates": len(scored),
                "report": {m: mean(configs[best], m) for m in s["report"]},
            })
    return chosen


def parse_paper_key(key: str) -> tuple[str, str, dict[str, str]]:
    """``"metric.stat@param=value,..."`` → (metric, stat, conditions)."""
    spec, _, where = key.partition("@")
    metric, _, stat = spec.partition(".")
    conditions = {}
    for cond in filter(None, where.split(",")):
        name, _, value = cond.partition("=")
        conditions[name.strip()] = value.strip()
    return metric, stat or "mean", conditions


STATISTICS: dict[str, Callable[[np.ndarray], Any]] = {"mean": np.mean, "median": np.median, "max": np.max, "min": np.min,
              "sd": lambda v: np.std(v, ddof=1) if v.size > 1 else 0.0}


def paper_rows(results: Results, seed: int = 0) -> list[dict]:
    """[paper] entries ``"metric.stat[@param=value,...]" = number`` beside ours (the mean with its interval)."""
    rows = []
    for key, theirs in results.meta["paper"].items():
        metric, stat, conditions = parse_paper_key(key)
        subset = [r for r in results.rows if all(same_value(r.get(k), v) for k, v in conditions.items())]
        values = results.column(metric, subset).astype(float) if metric in results.metrics else np.array([])
        ours, ci = None, None
        if values.size and stat in STATISTICS:
            ours = float(STATISTICS[stat](values))
            if stat == "mean":
                ci = mean_interval(values, results.bounds(metric), seed=seed)
        rows.append({"what": key, "paper": theirs, "ours": ours, "n": int(values.size),
                     "ci_low": ci.low if ci else None, "ci_high": ci.high if ci else None,
                     "ci": ci.text() if ci else ""})
    return rows
