"""What a researcher installing the package expects: a version, a licence, a citation, a changelog, typed
extras that match the parts, and a CLI reference that cannot drift from the command line."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

import recollection
from recollection.cli import app

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
runner = CliRunner()


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flag(flag):
    result = runner.invoke(app, [flag])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"recollection {recollection.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", recollection.__version__)


def test_the_version_has_one_definition():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "recollection.__version__"}
    source = (ROOT / "src" / "recollection" / "__init__.py").read_text()
    # setuptools reads it without importing the package only while it is a plain string literal
    assert re.search(r'^__version__ = "[^"]+"', source, re.MULTILINE)


def test_base_install_has_no_test_or_cluster_tools():
    base = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    for tool in ("pytest", "hypothesis", "captum", "playwright", "ray", "mypy", "ruff", "ipykernel", "mkdocs", "nbclient"):
        assert not re.search(rf"\b{tool}\b", base), tool
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras) >= {"ray", "notebook", "docs", "dev"}
    names = {extra: {re.split(r"[<>=!~;\[ ]", req)[0].lower() for req in reqs} for extra, reqs in extras.items()}
    assert "ray" in names["ray"]
    assert {"ipykernel", "ipywidgets", "nbclient"} <= names["notebook"]
    assert {"mkdocs", "mkdocstrings"} <= names["docs"]
    # `pip install -e '.[dev]' && pytest` runs every test: the cluster and notebook parts included
    assert {"pytest", "hypothesis", "captum", "playwright", "ray", "ipykernel", "nbclient", "mypy", "ruff"} <= names["dev"]


def test_typed_licensed_and_linked():
    assert (ROOT / "src" / "recollection" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["recollection"]
    assert "Typing :: Typed" in PYPROJECT["project"]["classifiers"]
    licence = (ROOT / "LICENSE").read_text()
    assert PYPROJECT["project"]["license"] == "MIT" and licence.startswith("MIT License")
    assert "Copyright (c) 2026 the recollection developers" in licence
    urls = " ".join(PYPROJECT["project"]["urls"].values())
    assert "10.1101/2024.02.05.578854" in urls and "2101.04137" in urls


def test_citation_cites_the_toolkit_and_both_papers():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert str(cff["version"]) == recollection.__version__
    assert cff["license"] == PYPROJECT["project"]["license"]
    references = {ref["title"]: ref for ref in cff["references"]}
    biorxiv = next(ref for ref in references.values() if ref.get("doi") == "10.1101/2024.02.05.578854")
    arxiv = next(ref for ref in references.values() if "arxiv.org/abs/2101.04137" in ref.get("url", ""))
    for ref in (biorxiv, arxiv):
        assert ref["authors"] == [{"family-names": "Ben Houidi", "given-names": "Zied"}]
    assert biorxiv["year"] == 2024 and arxiv["year"] == 2021


def test_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert recollection.__version__ in headings


def _cli_reference():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs" / "hooks" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_documents_every_command_and_option():
    page = _cli_reference().cli_markdown()
    root = typer.main.get_command(app)

    def walk(group, ctx, path):
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            sub = command.context_class(command, info_name=name, parent=ctx)
            yield (*path, name), command, sub
            if hasattr(command, "list_commands"):
                yield from walk(command, sub, (*path, name))

    seen = 0
    with root.context_class(root, info_name="recollect") as ctx:
        for path, command, sub in walk(root, ctx, ("recollect",)):
            assert re.search(rf"^#+ `{' '.join(path)}`$", page, re.MULTILINE), path
            for param in command.get_params(sub):
                for option in param.opts:
                    if option.startswith("--") and option != "--help":
                        assert re.search(rf"^- `[^`]*{re.escape(option)}\b", page, re.MULTILINE), (path, option)
            seen += 1
    assert seen >= 20
    assert "- `-V, --version`: Print the version and exit." in page
