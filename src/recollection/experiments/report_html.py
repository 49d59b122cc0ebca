"""The report's two renderings: a self-contained HTML page that fits a 1400-pixel window (tables
scroll, figures shrink, the gallery wraps) and a Markdown summary with the figures beside it."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .results_dir import STUDY_COPY

if TYPE_CHECKING:
    from .stats import Results


@dataclass
class Figure:
    name: str
    caption: str
    data: bytes


@dataclass
class Table:
    caption: str
    head: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    gallery: list[tuple[str, list[tuple[str, bytes | None]]]] = field(default_factory=list)  # (row, [(caption, png)])


def num(x: object, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


CSS = """*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;max-width:1240px;margin:2em auto;padding:0 1em;color:#222}
.scroll{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:0.3em 0 1em;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}.caption{font-size:13px;color:#444;margin:1em 0 0}
figure{display:inline-block;margin:0.5em;vertical-align:top;max-width:100%}figure img{max-width:100%;height:auto}
figcaption{font-size:13px;color:#555;max-width:640px}
.gallery-row{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 12px}.gallery-row h3{flex-basis:100%;font-size:14px;margin:4px 0}
.card{width:112px;font-size:11px;text-align:center;overflow-wrap:anywhere}
.card img{width:96px;height:96px;image-rendering:pixelated;display:block;margin:0 auto 2px}
pre{background:#f7f7f7;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px}"""


def to_html(results: Results, sections: list[Section]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(results.meta['study']['name'])}"
             f" — recollection report</title><style>{CSS}</style></head><body>"]
    for s in sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        parts += [f"<p>{e(p)}</p>" for p in s.text.split("\n\n") if p.strip()]
        for t in s.tables:
            if t.caption:
                parts.append(f"<p class='caption'>{e(t.caption)}</p>")
            parts.append("<div class='scroll'><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in t.rows]
            parts.append("</table></div>")
        for f in s.figures:
            parts.append(f"<figure><img alt='{e(f.caption)}' src='{data_uri(f.data)}'><figcaption>{e(f.caption)}"
                         "</figcaption></figure>")
        for label, cards in s.gallery:
            parts.append("<div class='gallery-row'>" + (f"<h3>{e(label)}</h3>" if label else ""))
            parts += [f"<div class='card'>{f'<img alt={e(text)!r} src={data_uri(img)!r}>' if img else ''}{e(text)}</div>"
                      for text, img in cards]
            parts.append("</div>")
    study_text = (results.out / STUDY_COPY).read_text(errors="replace") if (results.out / STUDY_COPY).exists() else ""
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
        for t in s.tables:
            if t.caption:
                lines += [f"**{t.caption}**", ""]
            lines.append("| " + " | ".join(t.head) + " |")
            lines.append("|" + "---|" * len(t.head))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in t.rows]
            lines.append("")
        for f in s.figures:
            lines += [f"![{f.caption}]({figure_dir.name}/{f.name}.png)", ""]
        if s.gallery:
            lines += ["(The gallery is in report.html.)", ""]
    return "\n".join(lines)
