"""The pipeline's results files: ``pipeline.json`` (everything), ``summary.md`` and ``summary.html``
(the accuracies, the thresholds and how they were chosen, the groups, the feature diagnostics)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..io import write_json, write_text

PipelineResult = Any  # naming.pipeline.PipelineResult (not imported: the pipeline imports this module)


def _acc(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _mean(s: dict) -> str:
    if not s.get("n"):
        return "–"
    ci = f" [{s['ci_low']:.3f}, {s['ci_high']:.3f}]" if s.get("ci_low") is not None else ""
    return f"{s['mean']:.3f}{ci} (median {s['median']:.3f}, n = {s['n']})"


def _th(t: list[float] | None) -> str:
    return "–" if t is None else f"{t[0]:g}/{t[1]:g}"


def rows(result: PipelineResult) -> list[list[str]]:
    """The summary table: full-data test accuracy and one-shot mean test accuracy, per method."""
    full, shot = result.full_data(), result.one_shot()
    return [["", "naming (paper)", "naming (corrected)", "SVM"],
            ["full data: test accuracy", _acc((full["naming_paper"] or {}).get("test")),
             _acc((full["naming_corrected"] or {}).get("test")), _acc(full["svm"].get("test"))],
            ["full data: training accuracy", _acc((full["naming_paper"] or {}).get("train")),
             _acc((full["naming_corrected"] or {}).get("train")), _acc(full["svm"].get("train"))],
            ["thresholds (full data)", _th(full["naming_paper_thresholds"]), _th(full["naming_corrected_thresholds"]),
             _th(full["svm_thresholds"])],
            ["one-shot: mean test accuracy", _mean(shot["summary"]["naming_paper"]),
             _mean(shot["summary"]["naming_corrected"]), _mean(shot["summary"]["svm"])],
            ["thresholds (one-shot)", _th(shot["naming_paper_thresholds"]), _th(shot["corrected_choice"]["thresholds"]),
             _th(shot["svm_thresholds"])]]


def notes(result: PipelineResult) -> list[str]:
    """The lines under the table: data, weights, thresholds, groups, diagnostics, warnings."""
    layout, shot = result.layout.as_dict(), result.one_shot()
    g = result.groups
    choice = shot["corrected_choice"]["params"] or {}
    lines = [f"Data: {layout['root']}: classes {', '.join(layout['classes'])}; {layout['train_images']} training and "
             f"{layout['test_images']} test images" + (f" (split for you: seed {layout['split']['seed']}, "
                                                       f"{layout['split']['test_fraction']:.0%} tested, by "
                                                       f"{layout['split']['by']})" if layout["split"] else "") + ".",
             f"Weights: {result.weights['source']} ({result.weights['path']})" +
             (f", STDP seed {result.weights['seed']} on {result.weights['learning_images']} images "
              f"({'/'.join(map(str, result.weights['presentations']))} presentations)" if result.weights["source"] == "stdp"
              else "") + ".",
             "Thresholds: " + ("; ".join(f"{k}: {v['thresholds'][0]:g}/{v['thresholds'][1]:g} calibrated on "
                                         f"{v['images']} training images" + (f" ({v['note']})" if v.get("note") else "")
                                         for k, v in result.calibration.items()) or "as given") + ".",
             f"Corrected one-shot chose inputs {choice.get('inputs')}, activity threshold "
             f"{choice.get('active_threshold')} on runs inside the training images.",
             "Groups: " + (f"{g['groups']} groups ({g['kind']} {g['source']}), {g.get('train_groups')} in training, "
                           f"{g.get('test_groups')} in test, {g.get('shared_train_test', 0)} in both"
                           if g.get("kind") != "images" else "none given: every image is its own group") + "."]
    lines += [f"Features: {line}" for line in result.diagnostics.lines()]
    lines += [f"WARNING: {w}" for w in result.diagnostics.warnings()]
    return lines


def markdown(result: PipelineResult) -> str:
    table = rows(result)
    text = ["# Naming pipeline", "", "| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    text += ["| " + " | ".join(r) + " |" for r in table[1:]]
    text += [""] + [f"- {line}" for line in notes(result)] + [""]
    return "\n".join(text)


def to_html(result: PipelineResult) -> str:
    table = rows(result)
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in table[0])
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in table[1:])
    items = "".join(f"<li{' class=warn' if line.startswith('WARNING') else ''}>{esc(line)}</li>" for line in notes(result))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Naming pipeline</title><style>"
            "body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .6em}.warn{color:#a00;font-weight:bold}</style></head><body>"
            f"<h1>Naming pipeline</h1><table><tr>{head}</tr>{body}</table><ul>{items}</ul></body></html>\n")


def write_summaries(result: PipelineResult, out: Path) -> dict[str, str]:
    """pipeline.json, summary.md and summary.html in ``out``; their paths."""
    files = {"json": write_json(out / "pipeline.json", result.as_dict()), "markdown": write_text(out / "summary.md", markdown(result)),
             "html": write_text(out / "summary.html", to_html(result))}
    return {k: str(v) for k, v in files.items()}
