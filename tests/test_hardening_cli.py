"""Hardening of the command line and the files it reads and writes (issue 15): outputs never collide,
the feature cache is checked and can be listed and cleared, and every bad input is one line."""

from __future__ import annotations

import errno
import io
import os
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from recollection.cli import app
from recollection.cnn.digits import DigitsNet
from recollection.limits import MAX_SEED
from recollection.snn.features import CacheError, CacheWarning, FeatureSet, folder_features
from recollection.snn.network import SpikingNetwork, random_weights, save_weights

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_clean_line(result, code: int = 2) -> str:
    """The output of a command that failed as promised: the exit code, no traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.output


def white(path: Path, size=(40, 40)) -> Path:
    Image.new("RGB", size, "white").save(path)
    return path


# --- outputs never collide ------------------------------------------------------------------------------
def test_inputs_sharing_a_name_never_overwrite_each_other(tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "a.jpg", "a-2.png"):  # a renamed "a" must not become "a-2"
        Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(folder / name)
    out = tmp_path / "out"
    result = run("reconstruct", folder, "--out", out)
    assert result.exit_code == 0, result.output
    assert "wrote 3 recollection(s)" in result.output
    written = sorted(p.name for p in out.glob("*.json"))
    assert written == ["a-2.json", "a.jpg.json", "a.png.json"]
    assert len(list(out.iterdir())) == 3 * 4  # four files per input, none overwritten
    images = {Path(__import__("json").loads((out / n).read_text())["image"]).name for n in written}
    assert images == {"a.png", "a.jpg", "a-2.png"}


def test_unique_stems_over_a_whole_run():
    from recollection.pipeline import unique_stems

    paths = [Path(p) for p in ("x/a.png", "y/a.png", "a.png-2.png", "b.png", "B.jpg", "c.png")]
    stems = unique_stems(paths)
    assert len({s.casefold() for s in stems}) == len(paths)  # unique, even on a case-insensitive disk
    assert stems[2] == "a.png-2" and stems[5] == "c"  # natural stems are kept and never taken by another
    assert stems[:2] == ["a.png", "a.png-3"] and stems[3:5] == ["b.png", "B.jpg"]


# --- the feature cache ------------------------------------------------------------------------------------
@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    for c in ("cats", "dogs"):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray((rng.random((80, 120)) * 255).astype(np.uint8)).save(tmp_path / "data" / c / f"{i}.png")
    return tmp_path / "data"


@pytest.fixture
def network() -> SpikingNetwork:
    return SpikingNetwork(seed=0)


def only_entry(cache: Path) -> Path:
    entries = list(cache.glob("snn-*.npz"))
    assert len(entries) == 1
    return entries[0]


def tamper_potentials(entry: Path) -> None:
    """Rewrite an entry with one potential changed and the old checksum: only the checksum can tell."""
    with np.load(entry) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["potentials"] = arrays["potentials"].copy()
    arrays["potentials"].flat[0] += 1.0
    np.savez(entry, **arrays)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "zero bytes", "checksum"])
def test_a_damaged_cache_entry_is_rebuilt_with_one_warning(image_folder, network, tmp_path, damage):
    cache = tmp_path / "cache"
    first = folder_features(image_folder, network, cache_dir=cache)
    entry = only_entry(cache)
    data = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif damage == "zero bytes":
        entry.write_bytes(b"")
    else:
        tamper_potentials(entry)
    with pytest.raises(CacheError):
        FeatureSet.load(entry)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = folder_features(image_folder, network, cache_dir=cache)
    ours = [w for w in caught if issubclass(w.category, CacheWarning)]
    assert len(ours) == 1 and str(entry) in str(ours[0].message)
    assert np.array_equal(again.potentials, first.potentials)
    assert np.array_equal(FeatureSet.load(entry).potentials, first.potentials)  # rebuilt on disk too
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        folder_features(image_folder, network, cache_dir=cache)  # and now read without a warning


def test_cache_entries_are_checked_for_shape_and_dtype(tmp_path):
    good = FeatureSet(np.zeros((2, 3, 4, 1, 1), np.float32), np.array([0, 1]), ["a", "b"], ["x", "y"])
    good.save(tmp_path / "good.npz")
    assert FeatureSet.load(tmp_path / "good.npz").classes == ["a", "b"]
    for bad, message in ((FeatureSet(np.zeros((2, 3), np.float32), np.array([0, 1]), ["a", "b"], ["x", "y"]), "potentials"),
                         (FeatureSet(np.zeros((2, 3, 4, 1, 1)), np.array([0, 1]), ["a", "b"], ["x", "y"]), "float64"),
                         (FeatureSet(np.zeros((2, 3, 4, 1, 1), np.float32), np.array([0, 5]), ["a", "b"], ["x", "y"]), "labels"),
                         (FeatureSet(np.zeros((2, 3, 4, 1, 1), np.float32), np.array([0, 1]), ["a", "b"], ["x"]), "paths")):
        bad.save(tmp_path / "bad.npz")
        with pytest.raises(CacheError, match=message):
            FeatureSet.load(tmp_path / "bad.npz")


def test_writers_of_one_entry_never_collide(tmp_path):
    """Many writers of the same entry at once (two processes extracting the same features): each
    writes a uniquely named temporary file, so every save succeeds and the entry is whole."""
    features = FeatureSet(np.random.default_rng(0).random((8, 15, 20, 6, 9)).astype(np.float32),
                          np.arange(8) % 2, ["a", "b"], [f"{i}.png" for i in range(8)])
    target = tmp_path / "snn-0123.npz"
    errors: list[BaseException] = []

    def save():
        try:
            for _ in range(5):
                features.save(target)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=save) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert np.array_equal(FeatureSet.load(target).potentials, features.potentials)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left behind


def test_cache_info_and_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    snn = tmp_path / "recollection" / "snn"
    snn.mkdir(parents=True)
    features = FeatureSet(np.zeros((2, 3, 4, 1, 1), np.float32), np.array([0, 1]), ["a", "b"], ["x", "y"])
    for key in ("old", "new"):
        features.save(snn / f"snn-{key}.npz")
    (snn / "notes.txt").write_text("mine")  # not an entry: never listed, never deleted
    stale = snn / ".snn-new.npz.abc123.tmp"
    stale.write_bytes(b"x" * 10)
    week_ago = time.time() - 7 * 86400
    for path in (snn / "snn-old.npz", stale):
        os.utime(path, (week_ago, week_ago))
    info = run("cache", "info")
    assert info.exit_code == 0, info.output
    assert str(tmp_path / "recollection") in info.output and "snn: 2 entries" in info.output
    assert "1 left-over temporary" in info.output
    cleared = run("cache", "clear", "--older-than", "3")
    assert cleared.exit_code == 0 and "deleted 2 file(s)" in cleared.output
    assert sorted(p.name for p in snn.iterdir()) == ["notes.txt", "snn-new.npz"]
    assert run("cache", "clear").exit_code == 0
    assert [p.name for p in snn.iterdir()] == ["notes.txt"]
    assert "empty" in run("cache", "info").output
    one_clean_line(run("cache", "clear", "--older-than", "-1"))


# --- one line, exit 2, for each input that used to give a traceback ------------------------------------
def seeded_commands():
    """Every command with a --seed option, found in the CLI itself (a new one is tested too)."""
    root = typer.main.get_command(app)

    def walk(group, path):
        for name, command in getattr(group, "commands", {}).items():
            if hasattr(command, "commands"):
                yield from walk(command, path + [name])
            elif any(p.name == "seed" for p in command.params):
                yield path + [name], command

    return list(walk(root, []))


@pytest.mark.parametrize("path, command", seeded_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_every_seed_is_bounded(path, command, tmp_path):
    seed = next(p for p in command.params if p.name == "seed")
    assert (seed.min, seed.max) == (0, MAX_SEED)
    required = [str(tmp_path / "x") for p in command.params if p.required and p.param_type_name == "argument"]
    options = [a for p in command.params if p.required and p.param_type_name == "option"
               for a in (p.opts[0], str(tmp_path / "x"))]
    for value in ("99999999999999999999", "-1"):
        output = one_clean_line(run(*path, *required, *options, "--seed", value))
        assert "--seed" in output
    assert len(seeded_commands()) >= 9


def test_device_that_is_absent_is_one_line(digit_png, tmp_path):
    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    output = one_clean_line(run("reconstruct", digit_png, "--out", tmp_path, "--device", "mps"))
    assert "MPS is not available" in output
    assert "unknown device" in one_clean_line(run("reconstruct", digit_png, "--out", tmp_path, "--device", "cpu:1"))


def test_a_full_disk_in_reconstruct_is_one_line_and_leaves_nothing_partial(digit_png, tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class DiskFull:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: DiskFull(real_fdopen(fd, mode, *a, **k))
                        if mode == "wb" else real_fdopen(fd, mode, *a, **k))
    out = tmp_path / "out"
    output = one_clean_line(run("reconstruct", digit_png, "--out", out))
    assert "No space left on device" in output and "free" in output and "zero.original.png" in output
    assert list(out.iterdir()) == []  # no partial file, no temporary


def spiking_weights(tmp_path: Path) -> Path:
    folder = tmp_path / "w"
    save_weights(random_weights(0), folder)
    return folder


def huge_header() -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**7, 10**7)})
    return buffer.getvalue() + b"\0" * 64


@pytest.mark.parametrize("case, message", [
    ("zero bytes", "empty"), ("strings", "string values"), ("364 TiB header", "header asks for"),
    ("complex", "complex values"), ("nan", "NaN or infinite"), ("inf", "NaN or infinite"), ("fifo", "not a regular file"),
])
def test_bad_spiking_weights_are_one_line(image_folder, tmp_path, case, message):
    weights = spiking_weights(tmp_path)
    target = weights / "weight_0.npy"
    good = np.load(target)
    target.unlink()
    if case == "zero bytes":
        target.write_bytes(b"")
    elif case == "strings":
        np.save(target, np.full(good.shape, "a"))
    elif case == "364 TiB header":
        target.write_bytes(huge_header())
    elif case == "complex":
        np.save(target, good.astype(np.complex64))
    elif case in ("nan", "inf"):
        bad = good.copy()
        bad.flat[3] = np.nan if case == "nan" else np.inf
        np.save(target, bad)
    else:
        os.mkfifo(target)
    output = one_clean_line(run("naming", "features", image_folder, "--weights", weights, "--cache", tmp_path / "c"))
    assert "weight_0.npy" in output and message in output, output


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "complex"])
def test_non_finite_or_complex_cnn_weights_are_refused(digit_png, tmp_path, value):
    state = DigitsNet().state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    if value == "complex":
        state[key] = state[key].to(torch.complex64)
    else:
        state[key] = state[key].clone()
        state[key].view(-1)[0] = value
    torch.save(state, tmp_path / "w.pt")
    output = one_clean_line(run("reconstruct", digit_png, "--out", tmp_path / "o", "--weights", tmp_path / "w.pt"))
    assert key in output and ("complex" in output if value == "complex" else "NaN or infinite" in output)


def test_special_files_are_refused_not_read(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    fired = []

    def unblock():  # should the reader ever block on the FIFO, open its other end so the test ends
        fired.append(True)
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    watchdog = threading.Timer(60, unblock)
    watchdog.start()
    try:
        output = one_clean_line(run("reconstruct", fifo, "--out", tmp_path / "o"), code=1)
        weights = one_clean_line(run("reconstruct", white(tmp_path / "a.png"), "--out", tmp_path / "o", "--weights", fifo))
    finally:
        watchdog.cancel()
    assert not fired, "reading a FIFO blocked"
    assert "not a regular file" in output and "is not a file" in weights
    if Path("/dev/zero").exists():
        assert "not a regular file" in one_clean_line(run("reconstruct", "/dev/zero", "--out", tmp_path / "o"), code=1)


def test_a_study_file_that_is_not_utf8_is_one_line(tmp_path):
    study = tmp_path / "study.toml"
    study.write_bytes(b'[study]\nname = "caf\xe9"\n')
    output = one_clean_line(run("run", study, "--out", tmp_path / "o", "--plan"))
    assert "not UTF-8" in output and "study.toml" in output
