"""A tiny engine for study tests: known scores, points that fail on demand, nothing to load.

Registered on import (in the test process only: studies using it run with workers=1)."""

from __future__ import annotations

import math
from pathlib import Path

from recollection.errors import OptionError
from recollection.experiments.schema import Engine, Param, register_engine
from recollection.io import OutputError

# The score of each (x, z): within z = 0, b beats a by 0.1; but a's only other cell (z = 1) is high,
# so pooling every point with x = a (as an average over a union of grids does) turns the effect around.
TRUTH = {("a", 0): 0.2, ("b", 0): 0.3, ("c", 0): 0.25, ("a", 1): 0.9, ("b", 1): 0.95}


@register_engine
class Toy(Engine):
    name = "test.toy"
    params = {
        "x": Param(str, "a"),
        "z": Param(int, 0),
        "n": Param(int, 1, help="a number: score rises with log2(n)"),
        "fail": Param(str, "none", ("none", "crash", "config", "disk")),
        "repeat": Param(int, 0),
        "seed": Param(int, 0),
    }
    metrics = ("score",)
    metric_ranges = {"score": (0.0, 1.0)}

    def check_point(self, data: dict, params: dict) -> str | None:
        return f"x = {params['x']} is not a level of this toy" if params["x"] == "bad" else None

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict]:
        out = []
        for p in points:
            if p["fail"] == "crash":
                raise RuntimeError("the toy crashed")
            if p["fail"] == "config":
                raise OptionError("the toy refuses this setting")
            if p["fail"] == "disk":
                raise OutputError("cannot write toy.png: No space left on device (0 B free on that disk)")
            noise = 0.01 * ((p["seed"] * 7919) % 5 - 2)  # deterministic, in [−0.02, 0.02]
            score = TRUTH.get((p["x"], p["z"]), 0.5) + 0.05 * math.log2(p["n"]) + noise
            out.append({"score": min(1.0, max(0.0, score))})
        return out
