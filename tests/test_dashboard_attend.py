"""The dashboard's Attend tab: its schema in /api/options, /api/attend, and its errors as messages."""

from __future__ import annotations

import json
import shutil

import pytest

from recollection.dashboard.app import Dashboard
from recollection.dashboard.server import make_server, serve_in_background

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def board():
    return Dashboard()


def post(board, payload):
    response = board.handle("POST", "/api/attend", body=json.dumps(payload).encode())
    return response.status, json.loads(response.body)


def test_the_tab_form_comes_from_the_attention_schema(board):
    options = json.loads(board.handle("GET", "/api/options").body)["attend"]
    assert options["normalize"]["default"] == "none" and "rescale_std" in options["normalize"]["choices"]
    assert options["mix"]["choices"] == ["max", "mean", "tile"] and "grad-cam" in options["method"]["choices"]
    assert {"model", "random_init", "cue", "unpool", "classes", "seed"} <= set(options)
    page = board.handle("GET", "/").body.decode()
    assert 'id="tab-attend"' in page and "/attend.js" in page
    assert b"attendRun" in board.handle("GET", "/attend.js").body


def test_attend_returns_the_mix_each_recall_and_the_scores(board):
    status, data = post(board, {"images": [{"sample": "digit-3"}, {"sample": "digit-0"}], "config": {}})
    assert status == 200, data
    assert data["mix"].startswith("data:image/png;base64,") and len(data["components"]) == 2
    assert [c["name"] for c in data["cues"]] == ["3", "0"]
    assert all(c["recall"].startswith("data:image/png") for c in data["cues"])
    assert data["scores"]["selectivity"] == pytest.approx(
        sum(c["r_own"] - c["r_other"][0] for c in data["cues"]) / 2)
    assert data["scores"]["selectivity"] > 0 and data["config"]["normalize"] == "none"
    status, tiled = post(board, {"images": [{"sample": "digit-3"}, {"sample": "digit-0"}],
                                 "config": {"mix": "tile", "classes": "3, 0", "normalize": "rescale_std"}})
    assert status == 200, tiled
    assert tiled["scores"]["pointing"] is not None and abs(tiled["scores"]["selectivity"]) < 0.01


@pytest.mark.parametrize("payload, message", [
    ({"images": [{"sample": "digit-3"}], "config": {}}, "two"),
    ({"images": [{"sample": "digit-3"}, {"sample": "digit-3"}], "config": {}}, "share a class"),
    ({"images": [{"sample": "digit-3"}, {"sample": "digit-0"}], "config": {"method": "lime"}}, "method"),
    ({"images": [{"sample": "digit-3"}, {"sample": "digit-0"}], "config": {"classes": "3"}}, "one per image"),
    ({"images": [{"sample": "digit-3"}, {"sample": "../etc/passwd"}], "config": {}}, "unknown sample"),
])
def test_bad_requests_are_messages_not_tracebacks(board, payload, message):
    status, data = post(board, payload)
    assert status == 400 and message in data["error"]


# --- end to end in headless Chromium ----------------------------------------------------------------
@pytest.fixture(scope="module")
def page(board):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is a dev dependency")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    httpd = make_server("127.0.0.1", 0, board)
    serve_in_background(httpd)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_context(viewport={"width": 1300, "height": 1000}, bypass_csp=True).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/")
        page.wait_for_selector("body[data-ready=true]")
        page.errors = errors
        yield page
        browser.close()
    httpd.shutdown()
    httpd.server_close()


def test_e2e_attend_shows_the_mix_each_recall_and_restores_from_the_url(page):
    page.click("#tab-attend")
    assert page.input_value("#t-normalize") == "none" and page.input_value("#attend-image-0") == "digit-3"
    page.click("#attend-run")
    page.wait_for_selector("#attend-result:not([hidden])")
    assert page.locator("#attend-pictures figure").count() == 5  # two images, the mix, two recalls
    assert "selectivity +" in page.text_content("#attend-scores")
    page.select_option("#t-mix", "tile")
    page.click("#attend-run")
    page.wait_for_function("document.querySelector('#attend-scores').textContent.includes('pointing')")
    url = page.url
    assert "tab=attend" in url and "t.mix=tile" in url
    other = page.context.new_page()
    other.goto(url)
    other.wait_for_function("document.querySelector('#attend-scores') && "
                            "document.querySelector('#attend-scores').textContent.includes('pointing')")
    assert other.input_value("#t-mix") == "tile"
    other.close()
    assert page.errors == []
