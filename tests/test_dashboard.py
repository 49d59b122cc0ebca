"""The dashboard: request handlers (no server), the HTTP layer, and end-to-end in headless Chromium."""

from __future__ import annotations

import io
import json
import shutil
import struct
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest
from PIL import Image

from recollection.dashboard.app import MAX_UPLOAD_BYTES, Dashboard
from recollection.dashboard.server import make_server, serve_in_background

ARTIFACTS = Path(__file__).parents[1] / "test-artifacts" / "dashboard"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def board():
    return Dashboard()


def post(board, path, payload):
    response = board.handle("POST", path, body=json.dumps(payload).encode())
    return response.status, json.loads(response.body)


def png(width=40, height=30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, "PNG")
    return buffer.getvalue()


def bomb() -> bytes:
    """A tiny PNG whose header claims 100 000 × 100 000 pixels."""
    data = bytearray(png(1, 1))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", 100_000, 100_000)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


# --- handlers -------------------------------------------------------------------------------------
def test_options_list_models_samples_and_choices(board):
    options = json.loads(board.handle("GET", "/api/options").body)
    assert [m["name"] for m in options["models"]] == ["digits", "alexnet", "alexnet-convpool", "vgg16", "vgg16_bn",
                                                      "resnet18"]
    assert options["models"][0]["pretrained"] is True
    assert "digit-0" in options["samples"] and "rescale_std" in options["options"]["normalize"]["choices"]
    assert options["options"]["normalize"]["default"] == "rescale_std" and options["options"]["normalize"]["help"]
    assert [k["kind"] for k in options["source_kinds"]][:2] == ["class", "last-layer"]
    assert options["source_parts"]["layer"]["default"] == 1 and options["max_upload_mb"] == 20


def test_recollect_returns_images_cascade_and_scores(board):
    status, data = post(board, "/api/recollect", {"image": {"sample": "digit-3"}, "config": {"model": "digits"}})
    assert status == 200
    assert data["original"].startswith("data:image/png;base64,") and data["recollection"].startswith("data:image/png")
    assert [c["name"] for c in data["cascade"]][0] == "source" and len(data["cascade"]) >= 6
    assert data["predicted"]["name"] == "3" and data["scores"]["pearson"] > 0.3
    status, zero = post(board, "/api/recollect", {"image": {"sample": "digit-3"}, "config": {"source": "zero"}})
    assert status == 200 and zero["config"]["source"] == "zero" and zero["config"]["normalize"] == "rescale_std"
    status, layer = post(board, "/api/recollect", {"image": {"sample": "digit-3"},
                                                  "config": {"source": "layer", "layer": 2, "top": 5, "view": "minmax"}})
    assert status == 200 and layer["config"]["source"] == "layer:2" and layer["config"]["top"] == 5.0
    assert layer["start"] != data["start"]


def test_rectify_input_reaches_the_dashboard(board):
    configs = {"normalize": "none", "source": "class"}
    _, on = post(board, "/api/recollect", {"image": {"sample": "digit-3"}, "config": configs})
    _, off = post(board, "/api/recollect", {"image": {"sample": "digit-3"}, "config": {**configs, "rectify_input": False}})
    assert on["config"]["rectify_input"] is True and off["config"]["rectify_input"] is False
    assert on["scores"] != off["scores"]


def test_class_search_reads_the_registry(board):
    found = json.loads(board.handle("GET", "/api/classes", "model=alexnet&q=tabby").body)
    assert {"index": 281, "name": "tabby"} in found["classes"]
    assert json.loads(board.handle("GET", "/api/classes", "model=digits&q=7").body)["classes"] == [{"index": 7, "name": "7"}]
    response = board.handle("GET", "/api/classes", "model=vgg")
    assert response.status == 400 and "unknown model 'vgg'" in json.loads(response.body)["error"]


@pytest.mark.parametrize("config, message", [
    ({"source": "layer", "layer": 99}, "layer 99 is out of range"),
    ({"source": "class", "target": "giraffe"}, "giraffe"),
    ({"normalize": "sideways"}, "normalize: expected one of"),
    ({"view": "sideways"}, "view: expected one of"),
    ({"model": "vgg"}, "model: expected one of digits, alexnet"),
    ({"top": "lots", "source": "layer"}, "top must be a number"),
])
def test_bad_options_are_messages_not_tracebacks(board, config, message):
    status, data = post(board, "/api/recollect", {"image": {"sample": "digit-1"}, "config": config})
    assert status == 400 and message in data["error"] and "Traceback" not in data["error"]


def test_compare_gives_a_difference_map_and_a_correlation(board):
    status, data = post(board, "/api/compare", {"image": {"sample": "digit-5"}, "a": {"source": "class"},
                                                "b": {"source": "class", "unpool": "distribute"}})
    assert status == 200 and data["difference"].startswith("data:image/png") and -1 <= data["r_raw"] <= 1
    assert data["r_raw"] < 0.999  # unpooling without switches changes the picture
    status, same = post(board, "/api/compare", {"image": {"sample": "digit-5"}, "a": {}, "b": {}})
    assert same["r_raw"] == pytest.approx(1.0)


def test_uploads_are_checked_decoded_safely_and_private(board):
    ok = board.handle("POST", "/api/upload", body=png())
    token = json.loads(ok.body)["token"]
    assert ok.status == 200 and len(token) >= 20
    status, data = post(board, "/api/recollect", {"image": {"upload": token}, "config": {}})
    assert status == 200
    other = json.loads(board.handle("POST", "/api/upload", body=png()).body)["token"]
    assert other != token
    status, data = post(board, "/api/recollect", {"image": {"upload": token[:-2] + "xx"}})
    assert status == 400 and "another session" in data["error"]
    for body, message in ((b"just text", "not an image"), (bomb(), "16 Mpx are refused"), (b"", "empty")):
        response = board.handle("POST", "/api/upload", body=body)
        assert response.status == 400 and message in json.loads(response.body)["error"]
    big = board.handle("POST", "/api/upload", body=b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert big.status == 400 and "limited to 20 MB" in json.loads(big.body)["error"]


def test_no_client_string_reaches_the_file_system(board):
    assert board.handle("GET", "/../../etc/passwd").status == 404
    response = board.handle("GET", "/api/sample", "name=../../../etc/passwd")
    assert response.status == 400 and b"unknown sample" in response.body
    status, data = post(board, "/api/recollect", {"image": {"sample": "/etc/passwd"}})
    assert status == 400 and "unknown sample image" in data["error"]
    assert board.handle("POST", "/api/recollect", body=b"{not json").status == 400


def test_naming_and_teaching(board):
    options = json.loads(board.handle("GET", "/api/options").body)
    if not options["naming"]["available"]:
        pytest.skip("../shared/data caltech_face_motor and sdnn_weights/run61 are absent")
    face = next(s for s in options["naming"]["test"] if "Face" in s)
    status, data = post(board, "/api/name", {"image": {"sample": face}})
    assert status == 200 and data["predicted"] == "Face"
    assert len(data["over_time"]["Face"]) == 15 and data["raster"].startswith("data:image/png")
    assert data["image"].startswith("data:image/png")
    token = json.loads(board.handle("POST", "/api/upload", body=png(300, 200)).body)["token"]
    status, uploaded = post(board, "/api/name", {"image": {"upload": token}})
    assert status == 200 and uploaded["predicted"] in ("Face", "Motor")
    train = options["naming"]["train"]
    status, taught = post(board, "/api/teach", {"face": {"sample": next(s for s in train if "Face" in s)},
                                                "motor": {"sample": next(s for s in train if "Motor" in s)}})
    assert status == 200 and 0.5 < taught["accuracy"] <= 1.0 and taught["test_images"] == 396
    status, recalled = post(board, "/api/recall", {"name": "Motor", "flavour": "spikes", "cue": False})
    assert status == 200 and recalled["picture"].startswith("data:image/png") and recalled["r_own"] > recalled["r_other"]
    assert [c["name"] for c in recalled["cascade"]][:2] == ["name", "conv3"]
    status, bad = post(board, "/api/recall", {"name": "Giraffe"})
    assert status == 400 and "unknown name" in bad["error"]


# --- the HTTP layer -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(board):
    httpd = make_server("127.0.0.1", 0, board)
    serve_in_background(httpd)
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_serves_the_page_with_security_headers(server):
    with urllib.request.urlopen(server + "/") as response:
        assert response.status == 200 and b"<title>recollection dashboard</title>" in response.read()
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_http_refuses_an_oversized_body_before_reading_it(server):
    request = urllib.request.Request(server + "/api/upload", data=b"x" * 10, method="POST",
                                     headers={"Content-Length": str(MAX_UPLOAD_BYTES + 1), "X-Recollection-Upload": "1"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 413 and "limited to 20 MB" in json.loads(info.value.read())["error"]


def test_default_host_is_loopback():
    httpd = make_server(port=0)
    try:
        assert httpd.server_address[0] == "127.0.0.1"
    finally:
        httpd.server_close()


# --- end to end in headless Chromium ----------------------------------------------------------------
@pytest.fixture(scope="module")
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is a dev dependency")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        # bypass_csp: Playwright's waits evaluate strings, which the page's policy (no eval) forbids
        page = browser.new_context(viewport={"width": 1300, "height": 1000}, bypass_csp=True).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.errors = errors
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_e2e_recollect_switch_source_and_restore_from_the_url(page, server):
    # the form comes from /api/options: its defaults and the parts each source kind takes
    assert page.input_value("#m-normalize") == "rescale_std" and page.is_checked("#m-rectify_input")
    assert page.is_visible("#m-target") and not page.is_visible("#m-top")
    page.select_option("#m-source", "layer")
    assert page.is_visible("#m-top") and page.is_visible("#m-layer") and not page.is_visible("#m-target")
    page.select_option("#m-source", "class")
    page.click("#run")
    page.wait_for_selector("#result:not([hidden])")
    assert page.get_attribute("#recollection", "src").startswith("data:image/png")
    assert page.locator("#cascade figure").count() >= 6
    shot(page, "1-recollect")
    page.select_option("#m-source", "zero")
    page.click("#run")
    page.wait_for_function("document.querySelector('#recollection-caption').textContent.includes('zero')")
    shot(page, "2-zero-source")
    url = page.url
    assert "m.source=zero" in url
    other = page.context.new_page()
    other.goto(url)
    other.wait_for_function("document.querySelector('#recollection-caption').textContent.includes('zero')")
    assert other.input_value("#m-source") == "zero"
    other.close()
    assert page.errors == []


def test_e2e_compare_two_configurations(page):
    page.click("#tab-compare")
    page.select_option("#b-source", "zero")
    page.click("#compare-run")
    page.wait_for_selector("#compare-result:not([hidden])")
    assert "correlation between A and B" in page.text_content("#compare-r")
    assert page.get_attribute("#compare-diff", "src").startswith("data:image/png")
    shot(page, "3-compare")
    assert "tab=compare" in page.url and page.errors == []


def test_e2e_name_an_image(page):
    page.click("#tab-name")
    if page.is_disabled("#name-run"):
        pytest.skip("naming data (../shared/data) is absent: the panel says so")
    page.click("#name-run")
    page.wait_for_function("document.querySelector('#name-predicted').textContent.startsWith('named:')", timeout=120_000)
    page.click("#teach-run")
    page.wait_for_selector("#teach-result:not([hidden])", timeout=60_000)
    assert "one-shot test accuracy" in page.text_content("#teach-result")
    page.select_option("#recall-name", "Face")
    page.click("#recall-run")
    page.wait_for_selector("#recall-result:not([hidden])", timeout=60_000)
    assert "the network names it" in page.text_content("#recall-caption")
    assert "rname=Face" in page.url and page.locator("#recall-cascade figure").count() >= 6
    shot(page, "4-name")
    assert page.errors == []


def test_e2e_a_bad_upload_shows_an_error_in_the_page(page):
    page.click("#tab-recollect")
    page.set_input_files("#upload", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}])
    page.wait_for_selector("#error:not([hidden])")
    assert "notes.png" in page.text_content("#error") and "not an image" in page.text_content("#error")
    shot(page, "5-bad-upload")
    page.set_input_files("#upload", files=[{"name": "white.png", "mimeType": "image/png", "buffer": png(64, 64)}])
    page.wait_for_function("document.querySelector('#upload-name').textContent.includes('white.png')")
    page.click("#run")
    page.wait_for_function("document.querySelector('#error').hidden")
    assert page.errors == []
