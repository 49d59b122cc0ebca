"""The attention studies' report section (engines ``cnn.attend`` and ``naming.attend``): selectivity and
localisation per configuration with bootstrap intervals, and a gallery of mixes and per-cue recalls."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..stats import mean_interval
from .report_html import Section, Table, num
from .results_dir import ARTIFACTS
from .stats import Results

GALLERY_PAIRS = 3
HEADLINE = ("method", "switches")  # always named in a configuration's label
LOCALISATION = ("pointing", "energy_in_mask")
CLOSER = ("closer_0", "closer_1")  # naming.attend: is name k's recall nearer its own component


def config_keys(results: Results) -> list[str]:
    return [p for p in results.meta["varying"] if p not in ("pair", "repeat", "seed")]


def configurations(results: Results) -> dict[tuple, list[dict]]:
    keys = config_keys(results)
    groups: dict[tuple, list[dict]] = {}
    for r in results.rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return groups


def label(results: Results, keys: list[str], config: tuple) -> str:
    """The headline parameters (method, switches) first if they vary, then every other one not at its default."""
    from .engines import get_engine

    defaults = {k: spec.default for k, spec in get_engine(results.meta["study"]["engine"]).params.items()}
    values = dict(zip(keys, config))
    head = [str(values[k]) if k == "method" else f"{k}={values[k]}" for k in HEADLINE if k in values]
    rest = [f"{k}={v}" for k, v in values.items() if k not in HEADLINE and v != defaults.get(k)]
    return ", ".join(head + rest) or "default"


def table(results: Results) -> Table:
    """One row per configuration: selectivity with its 95 % bootstrap interval, how many pairs were
    selective, r with the cued and the other components, the localisation measures where defined, and (spiking
    side) in how many pairs each name's recall was nearer its own component."""
    keys, seed = config_keys(results), results.meta["study"].get("seed", 0)
    local = [m for m in LOCALISATION if m in results.metrics and any(r.get(m) is not None for r in results.rows)]
    closer = [m for m in CLOSER if m in results.metrics]
    head = ["configuration", "pairs", "selectivity", "95 % CI", "selective", "r own", "r other",
            *[f"{m} [95 % CI]" for m in local], *[f"name {int(m[-1]) + 1} nearer its own" for m in closer]]
    rows = []
    for config, members in configurations(results).items():
        s = [float(r["selectivity"]) for r in members]
        ci = mean_interval(s, results.bounds("selectivity"), seed=seed)
        cells = [label(results, keys, config), str(len(s)), f"{ci.estimate:+.4f}", ci.text(signed=True),
                 f"{sum(v > 0 for v in s)}/{len(s)}", num(float(np.mean([r["r_own"] for r in members])), 3),
                 num(float(np.mean([r["r_other"] for r in members])), 3)]
        for m in local:
            v = [float(r[m]) for r in members if r.get(m) is not None]
            cells.append(f"{np.mean(v):.3f} {mean_interval(v, results.bounds(m), seed=seed).text(3)}" if v else "–")
        cells += [f"{sum(float(r[m]) > 0 for r in members)}/{len(members)}" for m in closer]
        rows.append(cells)
    return Table("Selectivity per configuration (mean over pairs)", head, rows)


def read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def gallery(results: Results) -> list[tuple[str, list[tuple[str, bytes | None]]]]:
    """A row with the first pairs' components and mixes, then one row per configuration with each cue's
    recall of those pairs (cards; the artifacts are square PNGs)."""
    art = results.out / ARTIFACTS
    keys = config_keys(results)
    pairs = sorted({r["pair"] for r in results.rows if (art / f"{r['hash']}-cue0.png").exists()})[:GALLERY_PAIRS]
    rows = []
    mixes = {r["pair"]: r.get("mix") for r in results.rows}
    cards = []
    for p in pairs:
        for k in range(2):
            path = art / f"component-{mixes[p]}-{p}-{k}.png"
            if path.exists():
                cards.append((f"{p}: component {k + 1}", read(path)))
        cards.append((f"{p}: the mix", read(art / f"mix-{mixes[p]}-{p}.png")))
    rows.append(("the pairs and their mixes", cards))
    for config, members in configurations(results).items():
        by_pair = {r["pair"]: r for r in members}
        cards = []
        for p in pairs:
            r = by_pair.get(p)
            for k in range(2):
                cards.append((f"{p} cue {k + 1}" + (f" (selectivity {r['selectivity']:+.2f})" if r and k == 0 else ""),
                              read(art / f"{r['hash']}-cue{k}.png") if r else None))
        rows.append((label(results, keys, config), cards))
    return rows


def attention_section(results: Results) -> Section:
    engine = results.meta["study"]["engine"]
    what = "the cued class neuron's" if engine == "cnn.attend" else "the name neuron's"
    parts = [f"Each pair is mixed and run forward once; each cue is recalled from that same pass ({what} recall).",
             "selectivity: mean over the cues of r(recall, its own component) − r(recall, the other component); 0 "
             "when every cue recalls the same picture. selective: pairs with selectivity > 0."]
    if engine == "cnn.attend":
        parts.append("pointing and energy_in_mask (tiled mixes): is the recall's energy peak in the cued "
                     "component's cell, and the fraction of its energy there.")
    else:
        parts.append("name k nearer its own: pairs where name k's recall correlates more with its own component "
                     "than with the other (name 1 is the test set's first class, Face in Caltech face/motorbike).")
    parts.append("Gallery: the first pairs, then each configuration's recall of each cue (each scaled to its own "
                 "range).")
    return Section("Attention: selectivity per configuration", " ".join(parts), [table(results)],
                   gallery=gallery(results))
