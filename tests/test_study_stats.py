"""What a study report says: intervals that respect the metric, effects within their grid table,
interaction plots with the paper's points, CDFs from 0, figures without pyplot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import toy_engine  # noqa: F401  (registers the engine test.toy)

from recollection.experiments.report import write_report
from recollection.experiments.runner import run_study
from recollection.experiments.study import load_study
from recollection.stats import difference_interval, mean_interval, summary

SIMPSON = """
[study]
name = "simpson"
engine = "test.toy"
seed = 0
repeats = 5

[[grid]]
x = ["a", "b"]
z = [0]

[[grid]]
x = ["a"]
z = [1]
"""

INTERACTION = """
[study]
name = "interaction"
engine = "test.toy"
repeats = {repeats}

[grid]
x = ["a", "b"]
n = [1, 2, 4, 8]

[paper]
"score.mean@x=a,n=4" = 0.5
"score.mean@x=b,n=8" = 0.6
"score.median@x=a,n=4" = 0.1
"""


def run(tmp_path: Path, text: str, name: str = "study.toml") -> tuple[Path, dict]:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_text(text)
    out = tmp_path / "out"
    summary = run_study(load_study(path), out, workers=1)
    assert not summary.failures
    write_report(out)
    return out, json.loads((out / "stats.json").read_text())


# --- intervals -------------------------------------------------------------------------------------
def test_fewer_than_three_points_get_no_interval_but_their_points():
    two = mean_interval([0.9, 1.0], (0.0, 1.0))  # the case: 1.96·sd/√n reached 1.1 here
    assert (two.low, two.high, two.method, two.n) == (None, None, "points", 2) and two.estimate == pytest.approx(0.95)
    assert "no interval" in two.text()
    assert difference_interval([1.0, 2.0], [0.0, 1.0], True).interval.method == "points"
    assert mean_interval([], (0, 1)).method == "none"


def test_intervals_stay_in_the_metric_range_bca_when_n_allows():
    near_one = [1.0, 1.0, 0.95, 1.0, 0.9]
    ci = mean_interval(near_one, (0.0, 1.0))
    assert ci.method == "percentile" and 0.0 <= ci.low <= ci.estimate <= ci.high <= 1.0
    many = np.r_[np.ones(30), [0.8, 0.9, 0.95]]
    ci = mean_interval(many, (0.0, 1.0))
    assert ci.method == "bca" and ci.high <= 1.0 and ci.low < ci.estimate
    clipped = mean_interval(np.linspace(0.3, 0.7, 20), (0.0, 0.52))  # a range narrower than the data: clipped to it
    assert clipped.clipped and clipped.high == 0.52
    d = difference_interval(np.ones(12), np.zeros(12) + np.linspace(0, 0.01, 12), True, (0.0, 1.0)).interval
    assert -1.0 <= d.low <= d.high <= 1.0
    s = summary([0.5, 0.6, 0.7, 0.9], (0.0, 1.0))
    assert s["n"] == 4 and s["ci_method"] == "percentile" and 0.5 <= s["ci_low"] < s["mean"] < s["ci_high"] <= 0.9


# --- effects within their grid ----------------------------------------------------------------------
def test_an_effect_is_computed_within_its_grid_table_not_pooled_across_a_union(tmp_path):
    out, stats = run(tmp_path, SIMPSON)
    pooled_a = np.mean([0.2] * 5 + [0.9] * 5)
    assert pooled_a - 0.3 > 0.2  # pooling says a beats b by 0.25: the wrong sign
    effects = stats["effects"]
    assert [(e["grid"], e["param"]) for e in effects] == [("[[grid]] #1", "x")]  # z varies in no table: no effect
    e = effects[0]
    assert e["fixed"] == {"z": 0} and e["reference"] == "a"
    a, b = e["levels"]
    assert a["mean"]["estimate"] == pytest.approx(0.2, abs=0.02) and a["n"] == 5
    assert b["difference"]["estimate"] == pytest.approx(0.1, abs=1e-9) and b["paired"]
    assert b["difference"]["ci_low"] > 0  # paired on the repeats: b is better, clearly
    md = (out / "report.md").read_text()
    assert "score by x in [[grid]] #1 (z = 0)" in md and "| b | 5 | 0.3" in md
    assert f"{pooled_a:.4f}" not in md  # the pooled mean of a appears nowhere
    assert "| score | [[grid]] #2 |" in md  # the overview too is per grid table
    assert (out / "figures" / "effect-0-x.png").stat().st_size > 1000


def test_an_unpaired_comparison_uses_only_the_cells_both_sides_share(tmp_path):
    text = SIMPSON + '\n[[compare]]\nmetric = "score"\nparam = "x"\na = "b"\nb = "a"\npaired = false\n'
    _, stats = run(tmp_path, text)
    c = stats["comparisons"][0]
    assert not c["paired"] and (c["n_a"], c["n_b"], c["left_out"]) == (5, 5, 5)
    assert c["difference"] == pytest.approx(0.1, abs=1e-9) and c["ci_low"] > 0


def test_two_varying_parameters_give_an_interaction_plot_with_the_papers_points(tmp_path):
    out, stats = run(tmp_path, INTERACTION.format(repeats=3))
    [it] = stats["interactions"]
    assert (it["x"], it["line"], it["metric"]) == ("n", "x", "score")  # x axis: the parameter with more values
    assert sorted(it["lines"]) == ["x = a", "x = b"]
    assert [c["x"] for c in it["lines"]["x = a"]] == [1, 2, 4, 8] and all(c["n"] == 3 for c in it["lines"]["x = a"])
    assert it["paper"] == {"x = a": [[4, 0.5]], "x = b": [[8, 0.6]]}  # means only: the median is not a mean
    assert (out / "figures" / "interaction-0-score.png").stat().st_size > 1000
    _, stats = run(tmp_path / "one", INTERACTION.format(repeats=1))
    cell = stats["interactions"][0]["lines"]["x = a"][0]
    assert cell["method"] == "points" and cell["ci_low"] is None  # one point per cell: no interval drawn


# --- figures ------------------------------------------------------------------------------------------
def test_cdfs_start_at_zero_and_say_what_and_how_many():
    from recollection.figures import cdf

    fig = cdf({"naming": [0.7, 0.8, 0.9], "svm": [0.6, 0.75]}, "test accuracy", "CDF of test accuracy: naming vs SVM")
    ax = fig.axes[0]
    first = ax.lines[0]
    assert first.get_ydata()[0] == 0.0 and first.get_xdata()[0] == 0.7 and first.get_ydata()[-1] == 1.0
    assert ax.get_xlabel() == "test accuracy" and ax.get_title().startswith("CDF of test accuracy")
    assert "n = 3" in ax.get_legend().get_texts()[0].get_text()


def test_report_figures_never_touch_pyplot_or_the_backend():
    code = ("import matplotlib, sys, numpy as np\n"
            "def refuse(*args, **kwargs): raise AssertionError('matplotlib.use was called')\n"
            "matplotlib.use = refuse\n"
            "from recollection import figures\n"
            "from recollection.experiments import plots\n"
            "from recollection.io import figure_png\n"
            "from recollection.stats import mean_interval\n"
            "png = figure_png(figures.cdf({'a': [1, 2, 3]}, 'x', 't')) + plots.cdf({'a': [1, 2, 3]}, 'x', 't')\n"
            "cells = [figures.Cell(v, mean_interval([v, v + 1, v + 2]), np.array([v, v + 1, v + 2])) for v in (1, 2)]\n"
            "png += figure_png(figures.interaction({'l': cells}, 'x', 'y', 't', paper={'l': [(1, 2.0)]}))\n"
            "assert png.startswith(b'\\x89PNG')\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
