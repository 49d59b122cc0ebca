"""A study: one TOML file naming an engine, its data, a parameter grid (or random search), the seeds,
the repeats and the comparisons to make. Loading it checks every key against the engine's schema."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .engines import get_engine
from .schema import Engine, StudyError, type_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SECTIONS = ("study", "data", "params", "grid", "random", "compare", "select", "paper")
STUDY_KEYS = {"name": str, "engine": str, "description": str, "seed": int, "repeats": int}
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
COMPARE_KEYS = {"name": str, "a": (str, int, float, bool), "b": (str, int, float, bool), "metric": str,
                "param": str, "paired": bool}
SELECT_KEYS = {"maximize": str, "minimize": str, "report": list, "by": list}


@dataclass(frozen=True)
class Comparison:
    """``a − b`` of a metric: two metric columns of the same rows (paired), or two values of a
    parameter (paired on every other parameter unless ``paired = false``)."""

    name: str
    a: Any
    b: Any
    metric: str | None = None  # with ``param``: the metric compared between a and b
    param: str | None = None
    paired: bool = True

    def describe(self) -> str:
        if self.param:
            return f"{self.metric}: {self.param} = {self.a} − {self.param} = {self.b}"
        return f"{self.a} − {self.b}"


@dataclass(frozen=True)
class Selection:
    """Choose, within each group of ``by``, the point with the best ``maximize`` (validation)
    metric and report its ``report`` (test) metrics: choices never see the test set."""

    metric: str
    larger_is_better: bool
    report: tuple[str, ...]
    by: tuple[str, ...] = ()


@dataclass
class Study:
    path: Path
    name: str
    engine: str
    description: str
    seed: int
    repeats: int
    data: dict
    fixed: dict
    grids: list[dict]
    random: dict
    comparisons: list[Comparison]
    selections: list[Selection]
    paper: dict
    text: str = ""
    points: list[dict] = field(default_factory=list)
    grid_labels: list[str] = field(default_factory=list)  # "[grid]", "[[grid]] #2", ...
    point_grids: list[tuple[int, ...]] = field(default_factory=list)  # for each point, the grid tables listing it

    @property
    def identity(self) -> dict:
        """What makes a results directory belong to this study (name and engine)."""
        return {"name": self.name, "engine": self.engine}

    def varying(self) -> list[str]:
        """Parameters that take more than one value across the points, in grid order."""
        keys = list(dict.fromkeys(k for p in self.points for k in p))
        return [k for k in keys if len({json.dumps(p.get(k), sort_keys=True) for p in self.points}) > 1]


def point_hash(engine: str, data: dict, params: dict) -> str:
    """Content hash of everything a point's result depends on."""
    blob = json.dumps({"engine": engine, "data": data, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_study(path: str | Path, overrides: list[str] | None = None) -> Study:
    """Read, check and expand a study file; ``overrides`` are ``section.key=TOML value`` strings."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"{path}: no such experiment file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise StudyError(f"{path}: not UTF-8 text (byte {e.start} is 0x{e.object[e.start]:02x}); "
                         "save the study file as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{path}: not valid TOML ({e})") from None
    for item in overrides or []:
        apply_override(raw, item, path)
    where = str(path)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise StudyError(f"{where}: unknown section [{unknown[0]}]; expected {', '.join(SECTIONS)}")
    head = table(raw, "study", where)
    for key in head:
        if key not in STUDY_KEYS:
            raise StudyError(f"{where}: [study] {key}: unknown key; expected {', '.join(STUDY_KEYS)}")
        kind = STUDY_KEYS[key]
        if not isinstance(head[key], kind) or isinstance(head[key], bool):
            raise StudyError(f"{where}: [study] {key}: expected {type_name((kind,))}, got {head[key]!r}")
    for key in ("name", "engine"):
        if key not in head:
            raise StudyError(f"{where}: [study] {key}: missing; every study names itself and its engine")
    engine = get_engine(head["engine"], where)
    repeats = head.get("repeats", 1)
    if repeats < 1:
        raise StudyError(f"{where}: [study] repeats: expected an integer ≥ 1, got {repeats}")
    data = engine.check_data(table(raw, "data", where), where)
    fixed = {k: check_param(engine, k, v, f"{where}: [params] {k}") for k, v in table(raw, "params", where).items()}
    grids = read_grids(raw.get("grid", {}), engine, where)
    random = read_random(table(raw, "random", where), engine, where)
    study = Study(
        path=path, name=head["name"], engine=head["engine"], description=head.get("description", ""),
        seed=head.get("seed", 0), repeats=repeats, data=data, fixed=fixed, grids=grids, random=random,
        comparisons=read_comparisons(raw.get("compare", []), where),
        selections=read_selections(raw.get("select", []), where),
        paper=table(raw, "paper", where), text=text,
    )
    grid = raw.get("grid")
    study.grid_labels = (["[grid]"] if isinstance(grid, dict) else [f"[[grid]] #{n + 1}" for n in range(len(grids))]) \
        if grid is not None else ["[random]" if random else "all points"]
    study.points, study.point_grids = expand(study, engine)
    check_comparisons(study, engine, where)
    return study


def table(raw: dict, name: str, where: str) -> dict:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise StudyError(f"{where}: [{name}]: expected a table, got {value!r}")
    return value


def apply_override(raw: dict, item: str, path: Path) -> None:
    key, eq, value = item.partition("=")
    section, dot, name = key.strip().partition(".")
    if not eq or not dot or not name:
        raise StudyError(f"--set {item!r}: expected section.key=VALUE, e.g. params.model=\"digits\"")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()  # a bare word: take it as a string
    if section == "grid" and not isinstance(parsed, list):
        parsed = [parsed]
    target = raw.setdefault(section, {})
    if isinstance(target, list):
        raise StudyError(f"{path}: --set {item!r}: [{section}] is a list of tables here; edit the file")
    target[name] = parsed


def check_param(engine: Engine, key: str, value: Any, where: str) -> Any:
    spec = engine.params.get(key)
    if spec is None:
        raise StudyError(f"{where}: unknown parameter of engine {engine.name}; expected one of "
                         f"{', '.join(engine.params)}")
    return spec.check(value, where, StudyError)


def read_grids(grid: Any, engine: Engine, where: str) -> list[dict]:
    """A [grid] table is one product; [[grid]] tables are a union of products."""
    tables = [grid] if isinstance(grid, dict) else grid
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise StudyError(f"{where}: [grid]: expected a table of lists or an array of such tables")
    grids = []
    for n, t in enumerate(tables):
        label = "[grid]" if isinstance(grid, dict) else f"[[grid]] #{n + 1}"
        checked = {}
        for key, values in t.items():
            if not isinstance(values, list):
                raise StudyError(f"{where}: {label} {key}: expected a list of values, got {values!r}")
            if not values:
                raise StudyError(f"{where}: {label} {key}: empty list; the grid would have no points")
            checked[key] = [check_param(engine, key, v, f"{where}: {label} {key}") for v in values]
        if isinstance(grid, list) and not checked:
            raise StudyError(f"{where}: {label}: empty table; the grid would have no points")
        grids.append(checked)
    return grids


def read_random(spec: dict, engine: Engine, where: str) -> dict:
    if not spec:
        return {}
    n = spec.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise StudyError(f"{where}: [random] n: expected the number of random points (an integer ≥ 1), got {n!r}")
    params: dict[str, tuple[str, list]] = {}  # parameter → (distribution, its arguments)
    for key, dist in spec.items():
        if key == "n":
            continue
        if key not in engine.params:
            raise StudyError(f"{where}: [random] {key}: unknown parameter of engine {engine.name}; expected one of "
                             f"{', '.join(engine.params)}")
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise StudyError(f"{where}: [random] {key}: expected one of {{uniform = [lo, hi]}}, "
                             f"{{loguniform = [lo, hi]}}, {{int = [lo, hi]}}, {{choice = [...]}}; got {dist!r}")
        kind, args = next(iter(dist.items()))
        if not isinstance(args, list) or not args or (kind != "choice" and len(args) != 2):
            raise StudyError(f"{where}: [random] {key}: {kind} expects [lo, hi]" if kind != "choice"
                             else f"{where}: [random] {key}: choice expects a non-empty list")
        params[key] = (kind, args)
    return {"n": n, "params": params}


def check_keys(item: dict, schema: dict, where: str) -> None:
    """Every key of a [[compare]] / [[select]] table known and of its type."""
    for key, value in item.items():
        if key not in schema:
            raise StudyError(f"{where} {key}: unknown key; expected {', '.join(schema)}")
        kinds = schema[key] if isinstance(schema[key], tuple) else (schema[key],)
        if not isinstance(value, kinds):
            raise StudyError(f"{where} {key}: expected {type_name(kinds)}, got {value!r}")


def read_comparisons(items: Any, where: str) -> list[Comparison]:
    if not isinstance(items, list):
        raise StudyError(f"{where}: [compare]: write it as [[compare]] tables")
    out = []
    for n, item in enumerate(items):
        label = f"[[compare]] #{n + 1}"
        check_keys(item, COMPARE_KEYS, f"{where}: {label}")
        if "a" not in item or "b" not in item:
            raise StudyError(f"{where}: {label}: needs a and b (two metrics, or two values of param)")
        if ("param" in item) != ("metric" in item):
            raise StudyError(f"{where}: {label}: param and metric go together (compare a metric between two values of a parameter)")
        name = item.get("name") or (f"{item['metric']}: {item['a']} − {item['b']}" if "param" in item else f"{item['a']} − {item['b']}")
        out.append(Comparison(name, item["a"], item["b"], item.get("metric"), item.get("param"), item.get("paired", True)))
    return out


def read_selections(items: Any, where: str) -> list[Selection]:
    if not isinstance(items, list):
        raise StudyError(f"{where}: [select]: write it as [[select]] tables")
    out = []
    for n, item in enumerate(items):
        label = f"[[select]] #{n + 1}"
        check_keys(item, SELECT_KEYS, f"{where}: {label}")
        if ("maximize" in item) == ("minimize" in item):
            raise StudyError(f"{where}: {label}: name exactly one of maximize or minimize (the validation metric)")
        out.append(Selection(item.get("maximize") or item["minimize"], "maximize" in item,
                             tuple(item.get("report", [])), tuple(item.get("by", []))))
    return out


def expand(study: Study, engine: Engine) -> tuple[list[dict], list[tuple[int, ...]]]:
    """Every point: engine defaults < [params] < one grid cell (or random draw) < repeat, seed; and for
    each point the grid tables that list it (effects are computed within a table, never across them)."""
    cells: list[tuple[dict, int]] = []
    for g, grid in enumerate(study.grids or [{}]):
        keys = list(grid)
        cells += [(dict(zip(keys, combo)), g) for combo in itertools.product(*(grid[k] for k in keys))]
    axes = engine.axes(study.data)  # e.g. one point per image: the outermost loop
    for key in reversed(list(axes)):
        cells = [({key: value, **c}, g) for value in axes[key] for c, g in cells if key not in c] + \
            [(c, g) for c, g in cells if key in c]
    if study.random:
        rng = np.random.default_rng(study.seed)
        draws = [{k: draw(rng, *spec) for k, spec in study.random["params"].items()} for _ in range(study.random["n"])]
        cells = [({**c, **d}, g) for c, g in cells for d in draws]
    points: list[dict] = []
    member: list[list[int]] = []
    seen: dict[str, int] = {}
    for cell, g in cells:
        for repeat in range(study.repeats):
            params = {k: spec.default for k, spec in engine.params.items() if k not in ("repeat", "seed")}
            params.update(study.fixed)
            params.update(cell)
            params["repeat"] = repeat
            params["seed"] = study.seed + repeat
            params = engine.complete(params)
            key = json.dumps(params, sort_keys=True)
            if key not in seen:  # a cell listed twice in a union of grids is run once
                seen[key] = len(points)
                points.append(params)
                member.append([])
            if g not in member[seen[key]]:
                member[seen[key]].append(g)
    if not points:
        raise StudyError(f"{study.path}: the grid has no points")
    return points, [tuple(m) for m in member]


def draw(rng: np.random.Generator, kind: str, args: list) -> Any:
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    if kind == "int":
        return int(rng.integers(args[0], args[1] + 1))
    return args[int(rng.integers(len(args)))]


def check_comparisons(study: Study, engine: Engine, where: str) -> None:
    metrics = set(engine.metrics)
    for c in study.comparisons:
        needed = [c.metric] if c.param else [c.a, c.b]
        for m in needed:
            if m not in metrics:
                raise StudyError(f"{where}: [[compare]] {c.name}: unknown metric {m!r}; engine {engine.name} "
                                 f"reports {', '.join(engine.metrics)}")
        if c.param and c.param not in engine.params:
            raise StudyError(f"{where}: [[compare]] {c.name}: unknown parameter {c.param!r}")
    for s in study.selections:
        for m in (s.metric, *s.report):
            if m not in metrics:
                raise StudyError(f"{where}: [[select]]: unknown metric {m!r}; engine {engine.name} reports "
                                 f"{', '.join(engine.metrics)}")
