"""Parameter effects, computed inside each grid table where the parameter varies, never across a
union of tables: the other parameters of that table are held fixed, and each value is compared with
the table's first value on the same images, repeats and other settings (paired). A table with two
varying parameters also gets an interaction plot's data (one line per value of one of them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..figures import Cell
from ..stats import Interval, difference_interval, mean_interval
from .stats import Grid, Results, parse_paper_key, same_value

MAX_VALUES = 16  # a parameter with more values (a random search) gets no per-value table


@dataclass
class Level:
    """One value of a parameter within a grid: its mean, and its difference from the reference value."""

    value: object
    values: np.ndarray
    mean: Interval
    difference: Interval | None = None  # None for the reference value itself
    paired: bool = True
    boot: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)


@dataclass
class Effect:
    """How one metric moves with one parameter inside one grid table."""

    grid: str
    param: str
    metric: str
    fixed: dict  # the other study parameters, held at these values in this table
    levels: list[Level]

    @property
    def reference(self) -> object:
        return self.levels[0].value

    def as_dict(self) -> dict:
        return {"grid": self.grid, "param": self.param, "metric": self.metric, "fixed": self.fixed,
                "reference": self.reference,
                "levels": [{"value": lv.value, "n": int(lv.values.size), "mean": lv.mean.as_dict(),
                            "difference": lv.difference.as_dict() if lv.difference else None, "paired": lv.paired}
                           for lv in self.levels]}


def distinct(rows: list[dict], param: str) -> list:
    seen: dict[str, object] = {}
    for r in rows:
        seen.setdefault(json.dumps(r.get(param), sort_keys=True), r.get(param))
    return list(seen.values())


def grid_effects(results: Results, metric: str, seed: int = 0) -> list[Effect]:
    """Every (grid table, varying parameter) pair with at most MAX_VALUES values."""
    out = []
    for grid in results.grids:
        for param in grid.varying:
            values = distinct(grid.rows, param)
            if 1 < len(values) <= MAX_VALUES:
                out.append(effect_in_grid(results, grid, param, values, metric, seed))
    return out


def effect_in_grid(results: Results, grid: Grid, param: str, values: list, metric: str, seed: int) -> Effect:
    bounds = results.bounds(metric)
    within = [p for p in (*results.design, *grid.varying) if p != param]  # what pairs two points of this table
    key = lambda r: tuple(json.dumps(r.get(p), sort_keys=True) for p in within)
    by_value = {json.dumps(v, sort_keys=True): {key(r): float(r[metric]) for r in grid.rows
                                                if r.get(param) == v and r.get(metric) is not None} for v in values}
    reference = by_value[json.dumps(values[0], sort_keys=True)]
    levels: list[Level] = []
    for v in values:
        cells = by_value[json.dumps(v, sort_keys=True)]
        sample = np.array(list(cells.values()), float)
        level = Level(v, sample, mean_interval(sample, bounds, seed=seed))
        if levels:  # not the reference
            shared = [k for k in cells if k in reference]
            if shared:
                d = difference_interval([cells[k] for k in shared], [reference[k] for k in shared], True, bounds,
                                        seed=seed)
            else:
                d = difference_interval(sample, list(reference.values()), False, bounds, seed=seed)
            level.difference, level.paired, level.boot = d.interval, d.paired, d.boot
        levels.append(level)
    return Effect(grid.label, param, metric, grid.fixed, levels)


# --- interactions -----------------------------------------------------------------------------------
@dataclass
class Interaction:
    """A metric against parameter ``x``, one line per value of parameter ``line``, in one grid table."""

    grid: str
    x: str
    line: str
    metric: str
    fixed: dict
    lines: dict[str, list[Cell]]
    paper: dict[str, list[tuple[object, float]]]

    def as_dict(self) -> dict:
        return {"grid": self.grid, "x": self.x, "line": self.line, "metric": self.metric, "fixed": self.fixed,
                "lines": {name: [{"x": c.x, **c.interval.as_dict()} for c in cells] for name, cells in self.lines.items()},
                "paper": self.paper}


def interactions(results: Results, metric: str, seed: int = 0) -> list[Interaction]:
    """One interaction for each grid table with exactly two varying parameters (each ≤ MAX_VALUES values):
    x is the one with more values (a number if one is), one line per value of the other."""
    out = []
    for grid in results.grids:
        if len(grid.varying) != 2:
            continue
        values = {p: distinct(grid.rows, p) for p in grid.varying}
        if any(not 1 < len(v) <= MAX_VALUES for v in values.values()):
            continue
        x, line = sorted(grid.varying, key=lambda p: (-len(values[p]), not _numeric(values[p])))
        lines = {}
        for w in values[line]:
            cells = []
            for v in values[x]:
                sample = np.array([r[metric] for r in grid.rows if r.get(x) == v and r.get(line) == w
                                   and r.get(metric) is not None], float)
                cells.append(Cell(v, mean_interval(sample, results.bounds(metric), seed=seed), sample))
            lines[f"{line} = {w}"] = cells
        out.append(Interaction(grid.label, x, line, metric, grid.fixed, lines,
                               paper_points(results, metric, (x, values[x]), (line, values[line]), grid.fixed)))
    return out


def _numeric(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def paper_points(results: Results, metric: str, x_axis: tuple[str, list], lines: tuple[str, list],
                 fixed: dict) -> dict[str, list[tuple[object, float]]]:
    """The [paper] means of ``metric`` at (x, line) values of this table (and at its fixed values)."""
    (x, x_values), (line, line_values) = x_axis, lines
    out: dict[str, list[tuple[object, float]]] = {}
    for key, theirs in results.meta.get("paper", {}).items():
        m, stat, conditions = parse_paper_key(key)
        if m != metric or stat != "mean" or set(conditions) - set(fixed) != {x, line}:
            continue
        if not all(same_value(fixed[k], v) for k, v in conditions.items() if k in fixed):
            continue
        w = next((w for w in line_values if same_value(w, conditions[line])), None)
        v = next((v for v in x_values if same_value(v, conditions[x])), None)
        if w is not None and v is not None and isinstance(theirs, (int, float)):
            out.setdefault(f"{line} = {w}", []).append((v, float(theirs)))
    return out
