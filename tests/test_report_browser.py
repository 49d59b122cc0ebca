"""Each shipped study, shrunk to a few points, runs and its report opens in headless Chromium without
errors, with every figure loaded and not blank (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recollection.experiments.report import write_report
from recollection.experiments.runner import run_study
from recollection.experiments.study import load_study

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
SHARED = Path(__file__).parents[1] / ".." / "shared" / "data"
WINDOW = 1400  # the report must fit a window this wide: no sideways scrolling
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

CNN_SHRINK = {
    "cnn-options": ["grid.normalize=[\"rescale_std\", \"none\"]", "grid.positivise=[true]", "grid.positivise_conv=[true]",
                    "grid.wta=[false]", "grid.unpool=[\"switches\", \"upsample\"]"],
    "cnn-sparsity": ["grid.source=[\"layer:1\", \"layer:2\"]"],
    "cnn-controls": [],
}
NAMING_SHRINK = {
    "naming-multisplit": ["study.repeats=10"],
    "naming-oneshot": ["study.repeats=30"],
    "naming-oneshot-corrected": ["study.repeats=10", "params.validation_runs=10", "params.weights=\"run61,svm_oneshot\""],
    "naming-lambda": ["study.repeats=10", "grid.novelty=[1.0, 65.0]"],
    "naming-fewshot": ["grid.shots=[5, 10]"],
    "naming-thresholds": ["grid.conv1=[7.0]", "grid.conv2=[20.25, 24.0]", "grid.init=[0.575]"],
    "naming-recall": ["study.repeats=1"],
    "naming-attention": ["data.pairs=2"],
}
ATTEND_SHRINK = ["data.images=\"drawn-digits\"", "data.pairs=3"]  # cnn.attend: pairs of the embedded drawn digits


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    return path


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is a dev dependency: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield b
        b.close()


def shrunk(name: str) -> list[str]:
    if name in NAMING_SHRINK:
        return NAMING_SHRINK[name]
    if name.startswith("cnn-attention"):
        return ATTEND_SHRINK
    overrides = ["data.limit=1", "params.random_init=true", *CNN_SHRINK[name]]
    if not (SHARED / "images").is_dir():  # no shared photos: the embedded drawn digits (AlexNet reads them as RGB)
        overrides += ["data.images=\"drawn-digits\""]
    return overrides


def open_in_chromium(browser, page_path: Path, screenshot: Path) -> tuple[list[str], dict]:
    page = browser.new_page(viewport={"width": WINDOW, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(page_path.resolve().as_uri())
    page.wait_for_load_state("load")
    images = page.evaluate("""() => Array.from(document.images).map(i => ({ok: i.complete && i.naturalWidth > 0,
                                                                           alt: i.alt}))""")
    headings = page.evaluate("() => Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return problems, {"images": images, "headings": headings, "width": width}


@pytest.mark.parametrize("name", sorted(p.stem for p in EXPERIMENTS.glob("*.toml")))
def test_shipped_study_report_opens_in_chromium(name, browser, tmp_path, tmp_path_factory):
    if name.startswith("naming") and not (SHARED / "caltech_face_motor" / "TrainingSet").is_dir():
        pytest.skip("../shared/data/caltech_face_motor is absent (`recollect data fetch caltech101` builds it)")
    cache = tmp_path_factory.getbasetemp() / "feature-cache"
    overrides = shrunk(name) + ([f"data.cache=\"{cache}\""] if name.startswith("naming") else [])
    study = load_study(EXPERIMENTS / f"{name}.toml", overrides)
    out = tmp_path / "results"
    summary = run_study(study, out, workers=1, overrides=overrides)
    assert not summary.failures, summary.failures[0]["error"] if summary.failures else ""
    page, _ = write_report(out)
    problems, found = open_in_chromium(browser, page, tmp_path / f"{name}.png")
    assert problems == []
    assert found["width"] <= WINDOW, f"the page is {found['width']} px wide"
    assert found["images"] and all(i["ok"] for i in found["images"]), found["images"]
    assert f"Study {name}" in found["headings"][0]
    if study.comparisons:
        assert "Comparisons" in found["headings"]
    if study.paper:
        assert "Ours beside the paper" in found["headings"]
    figures = sorted((out / "figures").glob("*.png"))
    assert figures
    for f in figures:
        pixels = np.asarray(Image.open(f).convert("L"), dtype=float)
        assert pixels.std() > 5 and (pixels < 128).mean() > 0.002, f"{f.name} looks empty"
