"""A feature cache entry written from one working directory is read from another: no rebuild, and the
image paths are the caller's (so that e.g. a recall cue image opens from where the caller is)."""

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from recollection.snn.features import CacheWarning, folder_features
from recollection.snn.network import SpikingNetwork


def test_an_entry_from_another_working_directory_is_a_hit_with_the_callers_paths(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    for c in ("cats", "dogs"):
        (tmp_path / "project" / "data" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray((rng.random((80, 120)) * 255).astype(np.uint8)).save(tmp_path / "project" / "data" / c / f"{i}.png")
    (tmp_path / "project" / "notebooks").mkdir()
    network, cache = SpikingNetwork(seed=0), tmp_path / "cache"
    monkeypatch.chdir(tmp_path / "project")
    first = folder_features(Path("data"), network, cache_dir=cache)  # e.g. the CLI, from the repository
    written = {p: p.stat().st_mtime_ns for p in cache.glob("snn-*.npz")}
    monkeypatch.chdir(tmp_path / "project" / "notebooks")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # not taken for a damaged entry
        again = folder_features(Path("../data"), network, cache_dir=cache)  # e.g. a notebook
    assert {p: p.stat().st_mtime_ns for p in cache.glob("snn-*.npz")} == written  # read, not rebuilt
    assert np.array_equal(again.potentials, first.potentials)
    assert again.paths[0] == os.path.join("..", "data", "cats", "0.png") and Path(again.paths[0]).is_file()
