"""The feature-diagnostics section of a naming study's report (``artifacts/diagnostics.json``, written by
the naming engines: see :mod:`recollection.naming.diagnostics`)."""

from __future__ import annotations

import json
from pathlib import Path

from .report_html import Section, Table
from .results_dir import ARTIFACTS

DIAGNOSTICS = "diagnostics.json"


def diagnostics_section(out: Path) -> Section | None:
    """Per feature set and part: images, all-zero conv3 features, no conv3 neuron at the name neurons'
    activity threshold, mean spikes per layer; the warnings above it. None when the study wrote none."""
    path = Path(out) / ARTIFACTS / DIAGNOSTICS
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        sets = data["feature_sets"]
    except (OSError, ValueError, KeyError):
        return Section("Feature diagnostics", f"{path} is unreadable; rerun the study to rewrite it.")
    rows = []
    for name, d in sets.items():
        for part, p in d["parts"].items():
            spikes = ", ".join(f"{k} {v:.0f}" for k, v in (p.get("spikes") or {}).items()) or "–"
            worst = max(p["zero_by_class"].items(), key=lambda kv: kv[1]) if p["zero_by_class"] else ("–", 0.0)
            rows.append([name, part, str(p["images"]), f"{p['zero_fraction']:.1%}", f"{worst[0]} {worst[1]:.1%}",
                         f"{p['inactive_fraction']:.1%}", spikes])
    warnings = data.get("warnings") or []
    text = ("Does the network see the images? All-zero: images whose conv3 features are all zero (the classifier "
            "sees nothing of them); inactive: no conv3 neuron reaches the name neurons' activity threshold (10). "
            + (" ".join(f"WARNING: {w}" for w in warnings) if warnings else
               f"No feature set has more than {data.get('limit', 0.05):.0%} all-zero images."))
    return Section("Feature diagnostics", text, [Table("", ["feature set", "part", "images", "all-zero",
                                                            "worst class", "inactive", "mean spikes per image"], rows)])
