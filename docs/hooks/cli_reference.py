"""MkDocs hook: the CLI reference page, written from the ``recollect`` command tree at every build.

The page is generated (never stored), so it cannot drift from the typer app: every command
group and command of ``recollection.cli.app``, in ``--help`` order, with its help text, usage,
arguments and options. Run as a script to print the page: ``python docs/hooks/cli_reference.py``.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any, Iterator

PAGE = "reference/cli.md"
ROOT = Path(__file__).resolve().parents[2]


def on_files(files: Any, config: Any) -> Any:
    """Add the generated page to the site's files (mkdocs >= 1.6)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=cli_markdown()))
    return files


def cli_markdown() -> str:
    """The whole reference page."""
    sys.path.insert(0, str(ROOT / "src"))  # document the checkout being built
    import typer.main

    from recollection.cli import app

    root = typer.main.get_command(app)
    lines = [
        "# Command line reference",
        "",
        "Generated at every build from the `recollect` command tree, so it always matches "
        "`recollect COMMAND --help`. Every user mistake is one red line on stderr and exit status 2.",
        "",
    ]
    with root.context_class(root, info_name="recollect") as ctx:
        lines += _options(root, ctx, "Global options")
        for path, command, command_ctx in _walk(root, ctx):
            lines += _command(path, command, command_ctx)
    return "\n".join(lines).rstrip() + "\n"


def _walk(group: Any, ctx: Any, path: tuple[str, ...] = ("recollect",)) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """Every command under ``group``, depth first, in the order ``--help`` lists them."""
    if not _is_group(group):
        return
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = command.context_class(command, info_name=name, parent=ctx)
        yield (*path, name), command, sub
        yield from _walk(command, sub, (*path, name))


def _is_group(command: Any) -> bool:
    # duck-typed: typer vendors its own click (typer._click), so isinstance(…, click.Group) may not hold
    return hasattr(command, "list_commands")


def _command(path: tuple[str, ...], command: Any, ctx: Any) -> list[str]:
    level = "#" * min(len(path), 4)
    lines = [f"{level} `{' '.join(path)}`", ""]
    for paragraph in _paragraphs(command.help or command.short_help or ""):
        lines += [_text(paragraph), ""]
    pieces = command.collect_usage_pieces(ctx)
    lines += ["```text", f"{' '.join(path)} {' '.join(pieces)}".rstrip(), "```", ""]
    if _is_group(command):
        names = [n for n in command.list_commands(ctx) if not command.get_command(ctx, n).hidden]
        lines += ["Commands: " + ", ".join(f"`{n}`" for n in names) + ".", ""]
    lines += _arguments(command, ctx)
    lines += _options(command, ctx, "Options")
    return lines


def _options(command: Any, ctx: Any, title: str) -> list[str]:
    options = [p for p in command.get_params(ctx) if p.param_type_name == "option" and not p.hidden]
    records = [p.get_help_record(ctx) for p in options]
    entries = [_entry(*record) for record in records if record and record[0].split(", ")[-1] != "--help"]
    return [f"**{title}**", ""] + entries + [""] if entries else []


def _arguments(command: Any, ctx: Any) -> list[str]:
    records = [p.get_help_record(ctx) for p in command.get_params(ctx) if p.param_type_name == "argument"]
    entries = [_entry(*record) for record in records if record]
    return ["**Arguments**", ""] + entries + [""] if entries else []


def _entry(names: str, help_text: str) -> str:
    """One option or argument from its help record (what plain ``--help`` prints): names, then help and facts."""
    facts = re.search(r"\s*\[([^\[\]]*)\]\s*$", help_text)
    if facts:
        help_text = help_text[: facts.start()]
    line = f"- `{names}`"
    if help_text.strip():
        line += f": {_text(help_text)}"
    if facts:
        line += f" *({_escape(facts.group(1))})*"
    return line


def _paragraphs(text: str) -> list[str]:
    blocks = re.split(r"\n\s*\n", text.replace("\b", "").strip())
    return [" ".join(line.strip() for line in block.splitlines()) for block in blocks if block.strip()]


def _text(text: str) -> str:
    """Help text as literal Markdown: HTML-escaped, emphasis and link characters escaped (code spans kept)."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(part if part.startswith("`") else _escape(part) for part in parts)


def _escape(text: str) -> str:
    text = html.escape(text, quote=False)
    return re.sub(r"([\\*_\[\]|#])", r"\\\1", text)


if __name__ == "__main__":
    print(cli_markdown(), end="")
