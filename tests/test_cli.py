"""End to end through the ``recollect`` command line, including each kind of bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from recollection.cli import app
from recollection.cnn.digits import DigitsNet

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_reconstruct_writes_every_output(digit_png: Path, tmp_path: Path):
    out = tmp_path / "out"
    result = run("reconstruct", digit_png, "--out", out)
    assert result.exit_code == 0, result.output
    for suffix in (".original.png", ".recalled.png", ".npy", ".json"):
        assert (out / f"zero{suffix}").exists(), suffix
    raw = np.load(out / "zero.npy")
    assert raw.shape == (1, 32, 32) and raw.dtype == np.float32
    record = json.loads((out / "zero.json").read_text())
    assert record["config"]["model"] == "digits" and record["config"]["normalize"] == "rescale_std"
    assert set(record["scores"]) == {"pearson", "ssim", "psnr", "edge_pearson"}
    assert set(record["specificity"]) == {"random-class", "zero"}
    assert 0 <= record["predicted"]["index"] < 10
    assert Image.open(out / "zero.recalled.png").size == (32, 32)


def test_options_reach_the_saved_tensor(digit_png: Path, tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("reconstruct", digit_png, "--out", a).exit_code == 0
    assert run("reconstruct", digit_png, "--out", b, "--normalize", "none", "--unpool", "distribute").exit_code == 0
    assert not np.allclose(np.load(a / "zero.npy"), np.load(b / "zero.npy"))
    assert json.loads((b / "zero.json").read_text())["config"]["normalize"] is None


def test_layer_source_with_top_percent(digit_png: Path, tmp_path: Path):
    result = run("reconstruct", digit_png, "--out", tmp_path, "--source", "layer:3", "--top", "1", "--per-channel")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "zero.json").read_text())["config"]
    assert config["source"] == "layer:3" and config["top"] == 1.0 and config["per_channel"] is True


def test_class_by_name_on_alexnet(tmp_path: Path):
    img = tmp_path / "rgb.png"
    Image.fromarray((np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)).save(img)
    result = run("reconstruct", img, "--out", tmp_path / "o", "--model", "alexnet", "--random-init",
                 "--source", "class:tabby cat", "--view", "inverse-transform")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "o" / "rgb.json").read_text())
    assert record["target"] == 281
    assert np.load(tmp_path / "o" / "rgb.npy").shape == (3, 224, 224)


def test_images_of_every_mode_are_accepted(tmp_path: Path):
    rng = np.random.default_rng(1)
    rgb = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).convert("L").save(tmp_path / "grey.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray((rng.random((24, 24)) * 65535).astype(np.uint16)).save(tmp_path / "deep.png")
    result = run("reconstruct", tmp_path, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "o").glob("*.npy"))) == 4


def test_one_bad_image_is_skipped_and_the_rest_processed(digit_png: Path, tmp_path: Path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(digit_png.read_bytes()[:60])
    tiny = tmp_path / "tiny.png"
    Image.new("L", (4, 4)).save(tiny)
    result = run("reconstruct", bad, digit_png, truncated, tiny, "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert (tmp_path / "o" / "zero.npy").exists()
    assert "notes.png" in result.output and "cut.png" in result.output and "4×4" in result.output
    assert "3 image(s) skipped" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["--source", "class:tabby catt", "--model", "alexnet", "--random-init"], "closest: 'tabby'"),
    (["--source", "class:seven"], "unknown class"),
    (["--source", "class:12"], "out of range"),
    (["--source", "layer:3", "--top", "0"], "(0, 100]"),
    (["--source", "layer:3", "--top", "150"], "(0, 100]"),
    (["--source", "layer:99"], "out of range"),
    (["--source", "sideways"], "unknown source"),
    (["--source", "zero", "--top", "5"], "layer:N"),
    (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "tpu"], "device"),
])
def test_bad_options_give_one_clear_line(digit_png: Path, tmp_path: Path, args, message):
    result = run("reconstruct", digit_png, "--out", tmp_path, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)


def test_unknown_model_is_a_usage_error(digit_png: Path, tmp_path: Path):
    result = run("reconstruct", digit_png, "--out", tmp_path, "--model", "vgg")
    assert result.exit_code == 2 and "vgg" in result.output


def test_unwritable_output_directory(digit_png: Path, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("reconstruct", digit_png, "--out", blocker / "sub")
    assert result.exit_code == 2 and "cannot write to output directory" in result.output


@pytest.mark.parametrize("case", ["corrupt", "truncated", "wrong-architecture", "checksum"])
def test_bad_weights_files(digit_png: Path, tmp_path: Path, case: str):
    if case == "corrupt":
        weights = tmp_path / "w.pt"
        weights.write_bytes(b"\x00garbage" * 100)
        args = ["--model", "digits"]
    elif case == "truncated":
        weights = tmp_path / "w.pt"
        torch.save({"model": DigitsNet().state_dict()}, weights)
        weights.write_bytes(weights.read_bytes()[:5000])
        args = ["--model", "digits"]
    elif case == "wrong-architecture":
        weights = tmp_path / "w.pt"
        torch.save(DigitsNet().state_dict(), weights)
        args = ["--model", "alexnet"]
    else:
        weights = tmp_path / "digits-deadbeef.pt"
        torch.save(DigitsNet().state_dict(), weights)
        args = ["--model", "digits"]
    result = run("reconstruct", digit_png, "--out", tmp_path / "o", "--weights", weights, *args)
    assert result.exit_code == 2, result.output
    assert str(weights.name) in result.output
    assert "Traceback" not in result.output


def test_layers_lists_alexnet_numbers():
    result = run("layers", "--model", "alexnet")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1].split()[:2] == ["1", "fc7"] and lines[10].split()[:2] == ["10", "conv1"]


def test_classes_search():
    result = run("classes", "tabby")
    assert result.exit_code == 0 and "281" in result.output


def test_demo_writes_a_gallery(tmp_path: Path):
    result = run("demo", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "gallery.json").read_text())
    assert len(record["images"]) == 10
    correct = sum(im["label"] == im["predicted"] for im in record["images"])
    assert correct >= 9
    assert Image.open(tmp_path / "gallery.png").size[0] > 600


def test_console_script_never_shows_a_traceback(tmp_path: Path):
    bad = tmp_path / "x.png"
    bad.write_text("no")
    proc = subprocess.run([sys.executable, "-m", "recollection.cli", "reconstruct", str(bad), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "x.png" in proc.stderr
