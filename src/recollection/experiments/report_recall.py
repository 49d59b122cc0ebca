"""The spiking-recall section of a study report (engine ``naming.recall``)."""

from __future__ import annotations

import numpy as np

from .report_html import Section, Table, num
from .results_dir import ARTIFACTS
from .stats import Results


def recall_section(results: Results) -> Section:
    """Per setting: how often the recalled map is closer to its own class's mean and named as its class;
    and a gallery of the recalled maps (DoG | image estimate), first repeat."""
    keys = ["dataset", "rule", "training", "flavour", "cue"]
    groups: dict[tuple, list[dict]] = {}
    for r in results.rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    s = Section("Spiking recall", "closer: fraction of recalls whose DoG map correlates more with its own class's "
                "mean map than with the other's; named: fraction the network names as the recalled class when "
                "the map is fed back (recall → perception); margin: mean r_own − r_other.")
    s.tables.append(Table("", keys + ["recalls", "closer", "named", "margin", "r_own", "r_other"],
                          [[str(v) for v in g] + [str(len(rows))] + [num(float(np.mean([r[m] for r in rows])), 3)
                           for m in ("closer_to_own", "named_correctly", "margin", "r_own", "r_other")]
                           for g, rows in groups.items()]))
    art = results.out / ARTIFACTS
    names = sorted({r["name"] for r in results.rows})
    for g, rows in groups.items():
        first = min(x.get("repeat", 0) for x in rows)
        cards = []
        for n in names:
            match = next((r for r in rows if r["name"] == n and r.get("repeat", 0) == first), None)
            path = art / f"{match['hash']}.png" if match else None
            cards.append((f"name {n}: {match['named']}, r {match['r_own']:.2f} / {match['r_other']:.2f}" if match
                          else f"name {n}: –", path.read_bytes() if path and path.exists() else None))
        s.gallery.append((", ".join(map(str, g)), cards))
    return s
