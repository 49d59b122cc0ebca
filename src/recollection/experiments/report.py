"""``recollect report RESULTS``: one self-contained HTML file (figures embedded), a Markdown summary
and ``stats.json``, all from the same numbers (recollection.stats)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import output_error, write_bytes, write_text
from ..stats import MIN_BCA_N, MIN_INTERVAL_N, mean_interval
from . import plots
from .effects import Effect, Interaction, grid_effects, interactions
from .report_html import Figure, Section, Table, num, to_html, to_markdown
from .results_dir import ARTIFACTS, Notice, warn
from .runner import failure_kind
from .stats import Estimate, Results, estimates, load_results, paper_rows, parse_paper_key, selections

GALLERY_IMAGES = 8
GALLERY_CONFIGS = 12
CDF_LABELS = {"naming.shots": "test accuracy", "naming.splits": "test accuracy", "naming.thresholds": "accuracy"}
INTERVALS = (f"Intervals: 95 % bootstrap (scipy.stats.bootstrap, 10 000 resamples; BCa for n ≥ {MIN_BCA_N}, percentile "
             f"for {MIN_INTERVAL_N} ≤ n < {MIN_BCA_N}, none below {MIN_INTERVAL_N}: the points are shown instead), clipped "
             "to the metric's range.")


@dataclass
class Analysis:
    """Every number of the report, computed once: the page, the summary and stats.json show the same."""

    comparisons: list[Estimate]
    effects: list[Effect]
    interactions: list[Interaction]
    paper: list[dict]
    selections: list[dict]

    def as_dict(self, results: Results) -> dict:
        return {"comparisons": [e.as_dict() for e in self.comparisons], "selections": self.selections,
                "paper": self.paper, "effects": [e.as_dict() for e in self.effects],
                "interactions": [i.as_dict() for i in self.interactions],
                "invalid": results.meta.get("invalid", []), "damaged_log_lines": results.damaged}


def analyse(results: Results) -> Analysis:
    seed = results.meta["study"].get("seed", 0)
    metrics = results.numeric_metrics()
    primary = metrics[:1]
    return Analysis(estimates(results, seed), grid_effects(results, primary[0], seed) if primary else [],
                    [i for m in dict.fromkeys([*primary, *paper_metrics(results)]) for i in interactions(results, m, seed)],
                    paper_rows(results, seed), selections(results))


def build_sections(results: Results, analysis: Analysis | None = None) -> list[Section]:
    meta = results.meta
    seed = meta["study"].get("seed", 0)
    analysis = analysis or analyse(results)
    sections = [overview(results, seed)]
    if meta.get("invalid"):
        sections.append(Section("Left out before running", "These points failed the engine's check before the run "
                                "(--skip-invalid): they cannot run on this data or model, so they are not in any table.",
                                [Table("", ["cells", "points", "reason"],
                                       [[g["cells"], str(g["points"]), g["reason"]] for g in meta["invalid"]])]))
    paper = analysis.paper
    if paper:
        sections.append(Section("Ours beside the paper", "Published figures and ours, from this study's points. "
                                + INTERVALS, [Table("", ["what", "paper", "ours", "95 % CI of our mean", "n"],
                                                    [[r["what"], num(r["paper"]), num(r["ours"]), r["ci"], str(r["n"])]
                                                     for r in paper])]))
    if analysis.comparisons:
        sections.append(comparisons(analysis.comparisons))
    chosen = analysis.selections
    if chosen:
        rows = [[", ".join(f"{k} = {v}" for k, v in c["group"].items()) or "all",
                 ", ".join(f"{k} = {v}" for k, v in c["config"].items()), f"{c['metric']} {c['value']:.4f}",
                 ", ".join(f"{k} {v:.4f}" for k, v in c["report"].items()), str(c["candidates"])] for c in chosen]
        sections.append(Section("Chosen on validation data", "Each configuration is chosen by the validation metric "
                                "alone; the test metric is reported for the choice, never used to make it.",
                                [Table("", ["group", "chosen configuration", "validation", "reported", "candidates"],
                                       rows)]))
    if meta["study"]["engine"] == "naming.recall":
        from .report_recall import recall_section

        sections.append(recall_section(results))
    if meta["study"]["engine"].startswith("naming."):
        from .report_naming import diagnostics_section

        found = diagnostics_section(results.out)
        if found is not None:
            sections.append(found)
    if meta["study"]["engine"] in ("cnn.attend", "naming.attend"):
        from .attend_report import attention_section

        sections.append(attention_section(results))
    sections += effect_sections(results, analysis)
    if meta["study"]["engine"] == "cnn.recollect":
        sections.append(gallery(results))
    sections += failure_sections(results)
    return sections


def overview(results: Results, seed: int) -> Section:
    meta = results.meta
    study = meta["study"]
    n_invalid = sum(g["points"] for g in meta.get("invalid", []))
    not_run = len(meta["points"]) - len(results.rows) - len(results.failures)
    text = (f"{study.get('description', '')}\n\nEngine `{study['engine']}`, {len(meta['points'])} points "
            f"({len(results.rows)} done, {len(results.failures)} failed, {not_run} not run"
            + (f"; {n_invalid} more left out as invalid before running" if n_invalid else "") + "); "
            f"recollection {meta['versions']['recollection']}, torch {meta['versions']['torch']}, "
            f"backend {meta.get('backend')}, finished {meta.get('finished') or 'not yet'}.")
    if results.damaged:
        text += (f"\n\nThe log had {results.damaged} damaged line(s), skipped: their points count as not run "
                 "(the next `recollect run` recomputes them).")
    several = len(results.grids) > 1
    head = ["metric", *(["grid table"] if several else []), "mean", "95 % CI", "median", "sd", "min", "max", "n"]
    rows = []
    for m in results.numeric_metrics():
        for grid in results.grids:
            v = results.column(m, grid.rows).astype(float)
            if v.size:
                ci = mean_interval(v, results.bounds(m), seed=seed)
                rows.append([m, *([grid.label] if several else []), num(ci.estimate), ci.text(), num(float(np.median(v))),
                             num(float(np.std(v, ddof=1)) if v.size > 1 else 0.0), num(float(v.min())),
                             num(float(v.max())), str(v.size)])
    caption = ("Each metric within each grid table of the union (never pooled across tables)" if several
               else "Each metric over all points")
    s = Section(f"Study {study['name']}", text, [Table(caption, head, rows)])
    varying = [p for p in meta["varying"] if p not in ("repeat", "seed")]
    seconds = sum(r.get("seconds", 0) for r in results.rows)
    s.text += "\n\nVarying: " + (", ".join(varying) if varying else "nothing but the repeats") + \
        f"; total compute {seconds:.1f} s. " + INTERVALS
    return s


def comparisons(found: list[Estimate]) -> Section:
    s = Section("Comparisons", "Mean difference a − b with its 95 % bootstrap interval; paired where the points "
                "are paired (same images, pairs or splits and every other parameter equal on both sides). An "
                "unpaired comparison uses only the cells both sides share. " + INTERVALS)
    rows = []
    for e in found:
        rows.append([e.name, f"{e.a.size}" if e.paired else f"{e.a.size} / {e.b.size}", num(float(e.a.mean())),
                     num(float(e.b.mean())), f"{e.difference.estimate:+.4f}", e.difference.text(signed=True),
                     "yes" if e.paired else "no", str(e.left_out)])
    s.tables.append(Table("", ["comparison", "n", "mean a", "mean b", "a − b", "95 % CI", "paired",
                               "rows without a partner"], rows))
    for k, e in enumerate(found):
        s.figures.append(Figure(f"compare-{k}-cdf", f"{e.name}: CDFs of {e.metric} (n = {e.a.size} / {e.b.size})",
                                plots.cdf({e.a_label: e.a, e.b_label: e.b}, e.metric,
                                          f"CDF of {e.metric}: {e.a_label} vs {e.b_label}")))
        s.figures.append(Figure(f"compare-{k}-estimation", f"{e.name}: mean difference (Gardner–Altman)",
                                plots.estimation(e)))
    return s


def effect_sections(results: Results, analysis: Analysis) -> list[Section]:
    metrics = results.numeric_metrics()
    if not metrics:
        return []
    primary = metrics[0]
    s = Section("Parameter effects within each grid table",
                f"{primary} for each value of each parameter, inside the grid table where the parameter varies, with "
                "that table's other parameters held at their values (never averaged across the tables of a union). "
                "Differences are from the table's first value, paired on the same images, repeats and other "
                "settings. " + INTERVALS)
    if "grids" not in results.meta:
        s.text += ("\n\nThese results predate grid membership: the effects below pool every point, as if the study "
                   "were one grid. Rerun the same `recollect run` command (nothing is recomputed) to compute them "
                   "within each grid table.")
    several = len(results.grids) > 1
    for k, eff in enumerate(analysis.effects):
        where = (f" in {eff.grid}" if several else "") + (f" ({plots.fixed_text(eff.fixed)})" if eff.fixed else "")
        rows = [[str(lv.value), str(lv.values.size), num(lv.mean.estimate), lv.mean.text(),
                 "reference" if lv.difference is None else f"{lv.difference.estimate:+.4f}",
                 "" if lv.difference is None else lv.difference.text(signed=True)
                 + ("" if lv.paired else " (unpaired)")] for lv in eff.levels]
        s.tables.append(Table(f"{primary} by {eff.param}{where}",
                              [eff.param, "n", f"mean {primary}", "95 % CI", f"− {eff.param} = {eff.reference}",
                               "95 % CI"], rows))
        s.figures.append(Figure(f"effect-{k}-{eff.param}", f"{primary} by {eff.param}{where}",
                                plots.effect(eff, several)))
    for k, it in enumerate(analysis.interactions):
        s.figures.append(Figure(f"interaction-{k}-{it.metric}", f"{it.metric} by {it.x}, one line per {it.line}"
                                + (f" ({it.grid})" if several else "")
                                + (", the paper's points overlaid" if it.paper else ""), plots.interaction(it, several)))
    if not any(g.varying for g in results.grids) and results.meta["study"]["engine"] in CDF_LABELS:
        groups = {m: results.column(m).astype(float) for m in metrics}
        label = CDF_LABELS[results.meta["study"]["engine"]]
        s.figures.append(Figure("cdf-all", f"CDF of {', '.join(groups)} over all points",
                                plots.cdf(groups, label, f"CDF of {label}: {' vs '.join(groups)}")))
    return [s] if s.tables or s.figures else []


def paper_metrics(results: Results) -> list[str]:
    return [m for m in (parse_paper_key(k)[0] for k in results.meta.get("paper", {})) if m in results.numeric_metrics()]


def gallery(results: Results) -> Section:
    """Reconstructions (rescale_std view) of a few images under the study's configurations, with r."""
    s = Section("Gallery", "Recollections shown as rescale_std views; under each, Pearson r with the original.")
    rows = [r for r in results.rows if r.get("view") == "rescale_std"]
    if not rows:
        s.text = "No rescale_std views in this study: nothing to show."
        return s
    keys = [p for p in results.meta["varying"] if p not in ("image", "view", "repeat", "seed")]
    configs: dict[tuple, list[dict]] = {}
    for r in rows:
        configs.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    order = list(configs)
    if len(order) > GALLERY_CONFIGS:
        ranked = sorted(order, key=lambda c: -np.mean([r["pearson"] for r in configs[c]]))
        order = ranked[: GALLERY_CONFIGS - 4] + ranked[-4:]
        s.text += f" {len(configs)} configurations: the {GALLERY_CONFIGS - 4} best and the 4 worst by mean r."
    images = list(dict.fromkeys(r["image"] for r in rows))[:GALLERY_IMAGES]
    art = results.out / ARTIFACTS
    for image in images:
        cards = [(f"{image} (original)", read(art / f"original-{image}.png"))]
        for c in order:
            match = next((r for r in configs[c] if r["image"] == image), None)
            label = ", ".join(f"{k} = {v}" for k, v in zip(keys, c)) or "default"
            cards.append((f"{label}: r = {match['pearson']:.3f}" if match else f"{label}: –",
                          read(art / f"{match['hash']}.png") if match else None))
        s.gallery.append((image, cards))
    return s


def failure_sections(results: Results) -> list[Section]:
    config = [r for r in results.failures if failure_kind(r) == "config"]
    crashes = [r for r in results.failures if failure_kind(r) != "config"]
    out = []
    if config:
        out.append(Section("Configuration errors", f"{len(config)} points failed on their configuration: a rerun "
                           "fails the same way. Fix the study, or leave them out with --skip-invalid.",
                           [Table("", ["point", "error"], [[r["hash"], r["error"]] for r in config[:50]])]))
    if crashes:
        out.append(Section("Failures", f"{len(crashes)} points failed while running; rerun the same command to retry "
                           "them (finished points are kept).",
                           [Table("", ["point", "error"], [[r["hash"], r["error"]] for r in crashes[:50]])]))
    return out


def read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def write_report(out: str | Path, notice: Notice = warn) -> tuple[Path, Path]:
    """Write ``report.html``, ``report.md`` (figures in ``figures/``) and ``stats.json`` into the results
    directory; every file appears whole or not at all (a full disk leaves no empty PNG behind)."""
    results = load_results(out, notice)
    analysis = analyse(results)
    sections = build_sections(results, analysis)
    out = Path(out)
    figure_dir = out / "figures"
    try:
        figure_dir.mkdir(exist_ok=True)
    except OSError as e:
        raise output_error(figure_dir, e) from None
    for s in sections:
        for f in s.figures:
            write_bytes(figure_dir / f"{f.name}.png", f.data)
    page, summary = out / "report.html", out / "report.md"
    write_text(page, to_html(results, sections))
    write_text(summary, to_markdown(results, sections, figure_dir))
    write_text(out / "stats.json", json.dumps(analysis.as_dict(results), indent=1, default=str) + "\n")
    return page, summary
