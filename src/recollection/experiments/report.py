"""``recollect report RESULTS``: one self-contained HTML file (figures embedded) and a Markdown summary."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import plots
from . import attend_report
from .runner import ARTIFACTS, STUDY_COPY, write_atomic
from .stats import Results, estimates, load_results, marginal_means, paper_rows, selections

GALLERY_IMAGES = 8
GALLERY_CONFIGS = 12


@dataclass
class Figure:
    name: str
    caption: str
    data: bytes


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    gallery: list[tuple[str, list[tuple[str, bytes | None]]]] = field(default_factory=list)


def num(x, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def build_sections(results: Results) -> list[Section]:
    meta = results.meta
    sections = [overview(results)]
    paper = paper_rows(results)
    if paper:
        sections.append(Section("Ours beside the paper", "Published figures and ours, from this study's points.",
                                [(["what", "paper", "ours", "n"], [[r["what"], num(r["paper"]), num(r["ours"]), str(r["n"])]
                                                                   for r in paper])]))
    found = estimates(results, seed=meta["study"].get("seed", 0))
    if found:
        s = Section("Comparisons", "Mean difference a − b with a 95 % percentile bootstrap interval (10 000 resamples); "
                    "paired where the points are paired (same images, pairs or splits on both sides).")
        s.tables.append((["comparison", "n", "mean a", "mean b", "a − b", "95 % CI", "paired"],
                         [[e.name, f"{e.a.size}" if e.paired else f"{e.a.size} / {e.b.size}", num(float(e.a.mean())),
                           num(float(e.b.mean())), f"{e.difference:+.4f}", f"[{e.low:+.4f}, {e.high:+.4f}]",
                           "yes" if e.paired else "no"] for e in found]))
        for k, e in enumerate(found):
            metric = next((c["metric"] for c in meta["comparisons"] if c["name"] == e.name and c.get("metric")), "value")
            s.figures.append(Figure(f"compare-{k}-cdf", f"{e.name}: CDFs", plots.cdf({e.a_label: e.a, e.b_label: e.b}, metric)))
            s.figures.append(Figure(f"compare-{k}-estimation", f"{e.name}: mean difference (Gardner–Altman)",
                                    plots.estimation(e, metric)))
        sections.append(s)
    chosen = selections(results)
    if chosen:
        rows = []
        for c in chosen:
            rows.append([", ".join(f"{k} = {v}" for k, v in c["group"].items()) or "all",
                         ", ".join(f"{k} = {v}" for k, v in c["config"].items()), f"{c['metric']} {c['value']:.4f}",
                         ", ".join(f"{k} {v:.4f}" for k, v in c["report"].items()), str(c["candidates"])])
        sections.append(Section("Chosen on validation data", "Each configuration is chosen by the validation metric "
                                "alone; the test metric is reported for the choice, never used to make it.",
                                [(["group", "chosen configuration", "validation", "reported", "candidates"], rows)]))
    if meta["study"]["engine"] == "naming.recall":
        sections.append(recall_section(results))
    if meta["study"]["engine"] in attend_report.ENGINES:
        sections.append(Section(**attend_report.attention_section(results)))
    sections += metric_sections(results)
    if meta["study"]["engine"] == "cnn.recollect":
        sections.append(gallery(results))
    if results.failures:
        sections.append(Section("Failures", f"{len(results.failures)} points failed; rerun the study to retry them.",
                                [(["point", "error"], [[r["hash"], r["error"]] for r in results.failures[:50]])]))
    return sections


def overview(results: Results) -> Section:
    meta = results.meta
    study = meta["study"]
    seconds = [r.get("seconds", 0) for r in results.rows]
    text = (f"{study.get('description', '')}\n\nEngine `{study['engine']}`, {len(meta['points'])} points "
            f"({len(results.rows)} done, {len(results.failures)} failed, "
            f"{len(meta['points']) - len(results.rows) - len(results.failures)} not run); "
            f"recollection {meta['versions']['recollection']}, torch {meta['versions']['torch']}, "
            f"backend {meta.get('backend')}, finished {meta.get('finished') or 'not yet'}.")
    rows = [[m, num(float(np.mean(v))), num(float(np.median(v))), num(float(np.std(v, ddof=1)) if v.size > 1 else 0.0),
             num(float(v.min())), num(float(v.max())), str(v.size)]
            for m in results.numeric_metrics() if (v := results.column(m).astype(float)).size]
    s = Section(f"Study {study['name']}", text, [(["metric", "mean", "median", "sd", "min", "max", "n"], rows)])
    varying = [p for p in meta["varying"] if p not in ("repeat", "seed")]
    s.text += "\n\nVarying: " + (", ".join(varying) if varying else "nothing but the repeats") + f"; total compute {sum(seconds):.1f} s."
    return s


def metric_sections(results: Results) -> list[Section]:
    metrics = results.numeric_metrics()
    if not metrics:
        return []
    s = Section("Distributions and parameter effects")
    groups = {m: results.column(m).astype(float) for m in metrics if m not in ("psnr", "r_to_class")}
    if results.meta["study"]["engine"] in ("naming.shots", "naming.splits", "naming.thresholds"):
        s.figures.append(Figure("cdf-all", "CDF of every metric over all points", plots.cdf(groups, "accuracy")))
    primary = metrics[0]
    for param, means in marginal_means(results, primary).items():
        if len(means) > 1:
            s.figures.append(Figure(f"effect-{param}", f"{primary} by {param}", plots.effects(means, param, primary)))
            s.tables.append(([param, f"mean {primary}", "± 95 %", "n"],
                             [[str(v), num(m), num(h), str(n)] for v, m, h, n in means]))
    return [s]


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
    header = [("original", None)] + [(", ".join(f"{k}={v}" for k, v in zip(keys, c)) or "default", None) for c in order]
    s.gallery.append(("", header))
    for image in images:
        cells = [(image, read(art / f"original-{image}.png"))]
        for c in order:
            match = next((r for r in configs[c] if r["image"] == image), None)
            cells.append((f"r = {match['pearson']:.3f}" if match else "–", read(art / f"{match['hash']}.png") if match else None))
        s.gallery.append((image, cells))
    return s


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
    s.tables.append((keys + ["recalls", "closer", "named", "margin", "r_own", "r_other"],
                     [[str(v) for v in g] + [str(len(rows))] + [num(float(np.mean([r[m] for r in rows])), 3)
                      for m in ("closer_to_own", "named_correctly", "margin", "r_own", "r_other")]
                      for g, rows in groups.items()]))
    art = results.out / ARTIFACTS
    names = sorted({r["name"] for r in results.rows})
    s.gallery.append(("", [("setting", None)] + [(f"name {n}", None) for n in names]))
    for g, rows in groups.items():
        cells = [(", ".join(map(str, g)), None)]
        for n in names:
            match = next((r for r in rows if r["name"] == n and r.get("repeat", 0) == min(x.get("repeat", 0) for x in rows)), None)
            cells.append((f"{match['named']}: r {match['r_own']:.2f} / {match['r_other']:.2f}" if match else "–",
                          read(art / f"{match['hash']}.png") if match else None))
        s.gallery.append(("", cells))
    return s


def read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}figure{display:inline-block;margin:0.5em;vertical-align:top}figcaption{font-size:13px;color:#555}
.gallery td{text-align:center;font-size:11px;vertical-align:top}.gallery img{max-width:300px;max-height:96px;image-rendering:pixelated}
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:12px}"""


def to_html(results: Results, sections: list[Section]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(results.meta['study']['name'])}"
             f" — recollection report</title><style>{CSS}</style></head><body>"]
    for s in sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        parts += [f"<p>{e(p)}</p>" for p in s.text.split("\n\n") if p.strip()]
        for head, rows in s.tables:
            parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("</table>")
        for f in s.figures:
            parts.append(f"<figure><img alt='{e(f.caption)}' src='{data_uri(f.data)}'><figcaption>{e(f.caption)}"
                         "</figcaption></figure>")
        if s.gallery:
            parts.append("<table class='gallery'>")
            for label, cells in s.gallery:
                parts.append("<tr>" + "".join(
                    f"<td>{'<img alt=%r src=%r><br>' % (e(text), data_uri(img)) if img else ''}{e(text)}</td>"
                    for text, img in cells) + "</tr>")
            parts.append("</table>")
    study_text = (results.out / STUDY_COPY).read_text() if (results.out / STUDY_COPY).exists() else ""
    parts.append(f"<h2>Experiment file</h2><pre>{e(study_text)}</pre>")
    overrides = results.meta["study"].get("overrides")
    if overrides:
        parts.append(f"<p>Overrides: {e(' '.join(overrides))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def to_markdown(results: Results, sections: list[Section], figure_dir: Path) -> str:
    lines = []
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.text:
            lines += [s.text, ""]
        for head, rows in s.tables:
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "---|" * len(head))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
        for f in s.figures:
            lines += [f"![{f.caption}]({figure_dir.name}/{f.name}.png)", ""]
        if s.gallery:
            lines += ["(The gallery is in report.html.)", ""]
    return "\n".join(lines)


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (figures in ``figures/``) into the results directory."""
    results = load_results(out)
    sections = build_sections(results)
    out = Path(out)
    figure_dir = out / "figures"
    figure_dir.mkdir(exist_ok=True)
    for s in sections:
        for f in s.figures:
            (figure_dir / f"{f.name}.png").write_bytes(f.data)
    page, summary = out / "report.html", out / "report.md"
    write_atomic(page, to_html(results, sections))
    write_atomic(summary, to_markdown(results, sections, figure_dir))
    stats = {"comparisons": [e.as_dict() for e in estimates(results, results.meta["study"].get("seed", 0))],
             "selections": selections(results), "paper": paper_rows(results)}
    write_atomic(out / "stats.json", json.dumps(stats, indent=1, default=str) + "\n")
    return page, summary
