"""Fuzzing (issue 15): random request bodies for every dashboard endpoint never give a 500; random
upload bytes are an image or a 400; random command lines exit 0, 1 or 2, without a traceback and
without writing anything outside --out. Derandomised, so a run is reproducible."""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from recollection.cli import app
from recollection.dashboard.app import FORM, SOURCE_PARTS, Dashboard
from recollection.dashboard.inputs import UPLOAD_LONG_SIDE, UPLOAD_MAX_PIXELS

OPTION_KEYS = (*FORM, *SOURCE_PARTS)  # every key the page's forms send (the option schema and the source parts)

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)), deadline=None, derandomize=os.environ.get("FUZZ_RANDOM") is None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def board():
    return Dashboard()


def endpoints() -> list[tuple[str, str]]:
    """Every route of the dashboard, read from its router (a new endpoint is fuzzed too)."""
    found = re.findall(r'\("(GET|POST)", "(/api/[a-z_]+)"\)', inspect.getsource(Dashboard.handle))
    assert len(found) >= 9
    return sorted(set(found))


# --- request bodies ----------------------------------------------------------------------------------------
def body_values(board: Dashboard) -> st.SearchStrategy:
    options = json.loads(board.handle("GET", "/api/options").body)
    naming = options["naming"]
    samples = ["digit-1", "digit-7", "../../etc/passwd", "", *naming.get("test", [])[:2], *naming.get("train", [])[:1],
               *naming.get("train", [])[-1:]]
    words = ["digits", "vgg", "class", "class:3", "²", "٣", "layer", "random", "zero", "last-layer", "random-class", "Face",
             "Motor", "rate", "spikes", "true", "off", "-1", "1e400", *options["options"]["normalize"]["choices"],
             *options["options"]["unpool"]["choices"], *options["options"]["view"]["choices"], *samples]
    keys = ["image", "config", "a", "b", "sample", "upload", "face", "motor", "name", "flavour", "cue", *OPTION_KEYS]
    scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
               | st.sampled_from(words))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.sampled_from(keys) | st.text(max_size=4), inner, max_size=4),
                          max_leaves=12)
    image = st.fixed_dictionaries({"sample": st.sampled_from(samples)}) | st.fixed_dictionaries(
        {"upload": st.text(max_size=24)}) | values
    config = st.dictionaries(st.sampled_from(list(OPTION_KEYS)), scalars, max_size=5)
    shaped = st.fixed_dictionaries({}, optional={"image": image, "config": config | values, "a": config, "b": config,
                                                 "face": image, "motor": image, "name": scalars, "flavour": scalars,
                                                 "cue": scalars})
    return shaped | values


def test_fuzz_request_bodies_of_every_endpoint(board):
    routes = endpoints()
    bodies = (body_values(board).map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64)
              | st.just(b"[" * 5000 + b"]" * 5000))
    queries = st.text(max_size=30).map(lambda q: q.encode("utf-8", "surrogatepass").decode("latin-1"))

    recollect = ("POST", "/api/recollect")

    @FUZZ
    @given(route=st.sampled_from(routes), body=bodies, query=queries)
    @example(route=recollect, body=b'{"image": {"sample": "digit-1"}, "config": []}', query="")  # the 500s
    @example(route=recollect, body=b'{"image": {"sample": "digit-1"}, "config": {"view": "bogus"}}', query="")
    @example(route=recollect, body=b'{"image": {"sample": "digit-1"}, "config": {"seed": 18446744073709551616}}', query="")
    @example(route=recollect, body=b'{"image": {"sample": "digit-1"}, "config": {"seed": 1e400}}', query="")
    @example(route=recollect, body=b"[" * 100_000 + b"]" * 100_000, query="")
    @example(route=recollect, body=b'{"image": {"sample": "digit-1"}, "config": {"target": "\\u00b2"}}', query="")
    def check(route, body, query):
        method, path = route
        response = board.handle(method, path, query, body if method == "POST" else b"", "application/json")
        assert response.status != 500, (route, body[:300], response.body[:300])
        assert response.status in (200, 400, 404), response.status

    check()


# --- upload bytes ----------------------------------------------------------------------------------------------
def encoded(fmt: str, mode: str = "RGB", size=(24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128).save(buffer, fmt)
    return buffer.getvalue()


SEEDS = [encoded("PNG"), encoded("PNG", "RGBA"), encoded("PNG", "P"), encoded("JPEG"), encoded("GIF", "P"),
         encoded("BMP"), encoded("TIFF"), encoded("WEBP"), encoded("PNG", "I;16")]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "splice", "grow"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "splice":
            data[at:at] = draw(st.binary(max_size=16))
        else:  # a header field rewritten to a huge size
            data[at:at + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\x00\x01"]))
    return bytes(data)


@FUZZ
@given(body=mutated() | st.binary(max_size=256))
def test_fuzz_upload_bytes(body):
    board = _upload_board()
    response = board.handle("POST", "/api/upload", body=body)
    assert response.status in (200, 400), (response.status, response.body[:300])
    if response.status == 200:
        answer = json.loads(response.body)
        assert answer["width"] * answer["height"] <= UPLOAD_MAX_PIXELS
        assert max(answer["width"], answer["height"]) <= UPLOAD_LONG_SIDE


_BOARD: list[Dashboard] = []


def _upload_board() -> Dashboard:
    if not _BOARD:
        _BOARD.append(Dashboard())
    return _BOARD[0]


# --- command lines ------------------------------------------------------------------------------------------------
NUMBERS = st.integers(-2**70, 2**70).map(str) | st.floats().map(str) | st.text(max_size=6)
RECONSTRUCT_OPTIONS = {
    "--source": st.sampled_from(["class", "class:3", "class:seven", "class:²", "layer:²", "class:99999999999999999999", "layer:2", "layer:99",
                                 "layer:-1", "random:1", "zero", "random-class", "last-layer", "sideways"])
                | st.text(max_size=10),
    "--top": NUMBERS, "--seed": NUMBERS, "--batch-size": NUMBERS,
    "--normalize": st.sampled_from(["none", "std", "minmax", "rescale_std", "bogus"]),
    "--unpool": st.sampled_from(["switches", "upsample", "random", "distribute", "bogus"]),
    "--view": st.sampled_from(["rescale_std", "minmax", "std", "inverse-transform", "bogus"]),
    "--model": st.sampled_from(["digits", "vgg", ""]),
    "--device": st.sampled_from(["cpu", "mps", "cuda:7", "tpu", "cpu:1", ""]),
    "--weights": st.sampled_from(["missing.pt", "notes.txt", "empty.png", "folder"]),
}
FLAGS = ["--per-channel", "--wta", "--random-init", "--no-positivise", "--no-rectify-input"]
INPUTS = ["good.png", "notes.txt", "empty.png", "tiny.png", "folder", "missing.png", "bad.toml", "latin1.toml"]


def make_inputs(root: Path) -> None:
    Image.new("L", (32, 32), 200).save(root / "good.png")
    Image.new("L", (4, 4)).save(root / "tiny.png")
    (root / "notes.txt").write_text("not an image")
    (root / "empty.png").write_bytes(b"")
    (root / "folder").mkdir()
    Image.new("RGB", (40, 30), "red").save(root / "folder" / "a.png")
    Image.new("RGB", (40, 30), "blue").save(root / "folder" / "a.jpg")
    (root / "bad.toml").write_text("[study\nname=")
    (root / "latin1.toml").write_bytes(b'[study]\nname = "caf\xe9"\n')


def snapshot(root: Path, out: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and out not in p.parents}


@st.composite
def command_lines(draw) -> list[str]:
    kind = draw(st.sampled_from(["reconstruct", "reconstruct", "reconstruct", "layers", "classes", "cache", "run"]))
    if kind == "reconstruct":
        images = draw(st.lists(st.sampled_from(INPUTS), min_size=1, max_size=3))
        options = draw(st.dictionaries(st.sampled_from(list(RECONSTRUCT_OPTIONS)), st.just(None), max_size=4))
        args = ["reconstruct", *images, "--out", "OUT"]
        for key in options:
            args += [key, draw(RECONSTRUCT_OPTIONS[key])]
        return args + draw(st.lists(st.sampled_from(FLAGS), max_size=2, unique=True))
    if kind == "layers":
        return ["layers", "--model", draw(RECONSTRUCT_OPTIONS["--model"])]
    if kind == "classes":
        return ["classes", draw(st.text(max_size=8)), "--model", "digits"]
    if kind == "cache":
        return ["cache", draw(st.sampled_from(["info", "clear"])), "--cache", draw(st.sampled_from(INPUTS))]
    return ["run", draw(st.sampled_from(INPUTS)), "--plan", "--out", "OUT"]


@FUZZ
@given(args=command_lines())
@example(args=["reconstruct", "good.png", "--out", "OUT", "--seed", "99999999999999999999"])  # found before
@example(args=["reconstruct", "good.png", "--out", "OUT", "--source", "class:²"])
@example(args=["reconstruct", "good.png", "--out", "OUT", "--device", "mps"])
@example(args=["run", "latin1.toml", "--plan", "--out", "OUT"])
def test_fuzz_command_lines(args):
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_inputs(root)
        out = root / "OUT"
        before = snapshot(root, out)
        here = os.getcwd()
        old_cache = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = str(root / "cache")
        os.chdir(root)
        try:
            result = runner.invoke(app, args)
        finally:
            os.chdir(here)
            if old_cache is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = old_cache
        assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
        assert "Traceback" not in result.output
        assert snapshot(root, out) == before, f"{args} wrote outside --out"
