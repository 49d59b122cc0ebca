"""The attention studies' report section: selectivity (and localisation) per configuration with bootstrap
intervals, and a gallery of mixes and per-cue recalls. Returns plain data that ``report.py`` wraps in
its Section, so this module depends on the statistics only."""

from __future__ import annotations

import numpy as np

from .runner import ARTIFACTS
from .stats import Results, bootstrap_difference

ENGINES = ("cnn.attend", "naming.attend")
GALLERY_PAIRS = 6
HEADLINE = ("method", "switches")  # always named in a configuration's label
LOCALISATION = ("pointing", "energy_in_mask")


def config_keys(results: Results) -> list[str]:
    return [p for p in results.meta["varying"] if p not in ("pair", "repeat", "seed")]


def configurations(results: Results) -> dict[tuple, list[dict]]:
    keys = config_keys(results)
    groups: dict[tuple, list[dict]] = {}
    for r in results.rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return groups


def label(results: Results, keys: list[str], config: tuple) -> str:
    """The headline parameter (method, switches) if it varies, then every other one not at its default."""
    from .engines import get_engine

    defaults = {k: spec.default for k, spec in get_engine(results.meta["study"]["engine"]).params.items()}
    parts = [str(v) if k == "method" else f"{k}={v}" for k, v in zip(keys, config)
             if k in HEADLINE or v != defaults.get(k)]
    return ", ".join(parts) or "default"


def mean_with_interval(values: np.ndarray, seed: int) -> str:
    if values.size < 2:
        return f"{values.mean():+.4f}" if values.size else "–"
    mean, low, high, _ = bootstrap_difference(values, np.zeros_like(values), paired=True, seed=seed)
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"


def table(results: Results) -> tuple[list[str], list[list[str]]]:
    """One row per configuration: selectivity with its 95 % bootstrap interval, how many pairs were
    selective, r with the cued and the other components, and the localisation measures where defined."""
    keys, seed = config_keys(results), results.meta["study"].get("seed", 0)
    local = [m for m in LOCALISATION if m in results.metrics and any(r.get(m) is not None for r in results.rows)]
    head = ["configuration", "pairs", "selectivity [95 % CI]", "selective", "r own", "r other", *local]
    rows = []
    for config, members in configurations(results).items():
        s = np.array([r["selectivity"] for r in members], float)
        cells = [label(results, keys, config), str(s.size), mean_with_interval(s, seed), f"{int((s > 0).sum())}/{s.size}",
                 f"{np.mean([r['r_own'] for r in members]):.3f}", f"{np.mean([r['r_other'] for r in members]):.3f}"]
        cells += [f"{np.mean([r[m] for r in members if r.get(m) is not None]):.3f}"
                  if any(r.get(m) is not None for r in members) else "–" for m in local]
        rows.append(cells)
    return head, rows


def gallery(results: Results) -> list[tuple[str, list[tuple[str, bytes | None]]]]:
    """Rows of (caption, PNG): a header row with each gallery pair's components and mix, then one row per
    configuration with its recalls of those pairs."""
    art = results.out / ARTIFACTS
    keys = config_keys(results)
    groups = configurations(results)
    pairs = sorted({r["pair"] for r in results.rows if (art / f"{r['hash']}.png").exists()})[:GALLERY_PAIRS]
    if results.meta["study"]["engine"] == "cnn.attend":
        mixes = {r["pair"]: r.get("mix") for r in results.rows}
        header = [("components | mix", None)] + [(p, read(art / f"mix-{mixes[p]}-{p}.png")) for p in pairs]
    else:
        header = [("", None)] + [(p, None) for p in pairs]
    rows = [("", header)]
    for config, members in groups.items():
        by_pair = {r["pair"]: r for r in members}
        cells = [(label(results, keys, config), None)]
        for p in pairs:
            r = by_pair.get(p)
            cells.append((f"selectivity {r['selectivity']:+.3f}", read(art / f"{r['hash']}.png")) if r else ("–", None))
        rows.append(("", cells))
    return rows


def read(path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def attention_section(results: Results) -> dict:
    """Title, text, tables and gallery rows of the report's attention section."""
    what = ("each cue's recall (one per component, left to right in the cue order)" if
            results.meta["study"]["engine"] == "cnn.attend" else "the mix, then the recall of each name (Face, Motor)")
    text = ("selectivity: mean over the cues of r(recall, its own component) − r(recall, the other component); 0 when "
            "every cue recalls the same picture. The interval is a 95 % percentile bootstrap of the mean over pairs "
            "(10 000 resamples); selective: pairs with selectivity > 0. pointing and energy_in_mask (tiled mixes): "
            "is the recall's energy peak in the cued component's cell, and the fraction of its energy there. "
            f"Gallery: {what}, each scaled to its own range.")
    return {"title": "Attention: selectivity per configuration", "text": text, "tables": [table(results)],
            "gallery": gallery(results)}
