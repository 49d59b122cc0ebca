"""`recollect data fetch mnist`: MNIST's idx files from a folder, a file, an archive or a local server (offline)."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recollection.cli import app
from recollection.data.digits import MNIST_FILES, mnist
from recollection.data.download import DownloadError
from recollection.data.mnist import (
    LAYOUT,
    MD5,
    MIRRORS,
    TEST_FILES,
    TRAIN_FILES,
    MnistError,
    fetch_mnist,
    md5_of,
)
from recollection.errors import RecollectionError

from conftest import shared_path

runner = CliRunner()


def _idx(array: np.ndarray) -> bytes:
    """An idx file of unsigned bytes (magic 0 0 8 ndim, then big-endian sizes), gzipped."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


class Fake:
    """Small MNIST-shaped idx files in a folder, with their md5s to inject."""

    def __init__(self, folder: Path, n: int = 12) -> None:
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        self.labels = (np.arange(n) % 10).astype(np.uint8)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.data = {}
        for name in TEST_FILES + TRAIN_FILES:
            self.data[name] = _idx(self.images if "images" in name else self.labels)
            if name.startswith("train"):  # the training files differ from the test files
                self.data[name] = _idx((self.images if "images" in name else self.labels)[::-1])
            (folder / name).write_bytes(self.data[name])
        self.md5s = {name: hashlib.md5(data, usedforsecurity=False).hexdigest() for name, data in self.data.items()}

    def fetch(self, dest: Path, **kwargs):
        options = {"md5s": self.md5s, "mirrors": ("http://127.0.0.1:9/",), **kwargs}
        return fetch_mnist(dest, **options)


@pytest.fixture
def fake(tmp_path) -> Fake:
    return Fake(tmp_path / "downloads")


@pytest.fixture
def served(fake):
    handler = partial(SimpleHTTPRequestHandler, directory=str(fake.folder))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_from_a_folder_the_code_reads_them(fake, tmp_path):
    dest = tmp_path / "data"
    messages: list[str] = []
    result = fake.fetch(dest, sources=[fake.folder], download_ok=False, progress=messages.append)
    root = dest / LAYOUT
    assert result["root"] == str(root)
    assert sorted(p.name for p in root.iterdir()) == sorted(TEST_FILES)  # no temporary file left
    assert set(result["files"]) == set(TEST_FILES) == set(MNIST_FILES)
    for name in TEST_FILES:
        assert (root / name).read_bytes() == fake.data[name]
        assert result["files"][name] == {"md5": fake.md5s[name], "source": str(fake.folder / name)}
    images, labels = mnist(root)  # what `recollect train digits --mnist-dir` and the MNIST recall read
    np.testing.assert_array_equal(images, fake.images)
    np.testing.assert_array_equal(labels, fake.labels)
    assert messages == [f"using {fake.folder / name}" for name in TEST_FILES]


def test_train_adds_the_training_files(fake, tmp_path):
    result = fake.fetch(tmp_path / "d", train=True, sources=[fake.folder], download_ok=False)
    assert set(result["files"]) == set(TEST_FILES + TRAIN_FILES)
    for name in TRAIN_FILES:
        assert (tmp_path / "d" / LAYOUT / name).read_bytes() == fake.data[name]


def test_single_files_zip_and_tar_are_accepted(fake, tmp_path):
    files = [fake.folder / name for name in TEST_FILES]
    by_files = fake.fetch(tmp_path / "f", sources=files, download_ok=False)
    archive = tmp_path / "mnist.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("__MACOSX/mnist/._t10k-images-idx3-ubyte.gz", b"resource fork")
        for name in TEST_FILES:
            zf.writestr(f"mnist/raw/{name}", fake.data[name])
    by_zip = fake.fetch(tmp_path / "z", sources=[archive], download_ok=False)
    tarball = tmp_path / "mnist.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in TEST_FILES:
            info = tarfile.TarInfo(f"MNIST/raw/{name}")
            info.size = len(fake.data[name])
            tar.addfile(info, io.BytesIO(fake.data[name]))
    by_tar = fake.fetch(tmp_path / "t", sources=[tarball], download_ok=False)
    for result in (by_files, by_zip, by_tar):
        assert {name: f["md5"] for name, f in result["files"].items()} == {n: fake.md5s[n] for n in TEST_FILES}
    assert by_zip["files"]["t10k-images-idx3-ubyte.gz"]["source"] == f"{archive}!mnist/raw/t10k-images-idx3-ubyte.gz"
    for folder in ("f", "z", "t"):
        assert (tmp_path / folder / LAYOUT / TEST_FILES[0]).read_bytes() == fake.data[TEST_FILES[0]]


def test_wrong_checksum_is_refused_and_leaves_nothing(fake, tmp_path):
    dest = tmp_path / "d"
    md5s = {**fake.md5s, TEST_FILES[1]: "0" * 32}
    with pytest.raises(MnistError, match=r"is not MNIST's t10k-labels-idx1-ubyte\.gz or is damaged: its md5 is "
                                         r"[0-9a-f]{32}, expected 0{32}"):
        fake.fetch(dest, sources=[fake.folder], download_ok=False, md5s=md5s)
    root = dest / LAYOUT
    assert [p.name for p in root.iterdir()] == [TEST_FILES[0]]  # the good file stays, no temporary file
    assert (fake.folder / TEST_FILES[1]).read_bytes() == fake.data[TEST_FILES[1]]  # the user's file is untouched


def test_real_checksums_refuse_the_fakes(fake, tmp_path):
    with pytest.raises(MnistError, match=MD5[TEST_FILES[0]]):
        fetch_mnist(tmp_path / "d", sources=[fake.folder], download_ok=False)
    assert not (tmp_path / "d").exists()


def test_files_already_in_place_are_checked_and_kept(fake, tmp_path):
    dest = tmp_path / "d"
    first = fake.fetch(dest, sources=[fake.folder], download_ok=False)
    messages: list[str] = []
    again = fake.fetch(dest, download_ok=False, progress=messages.append)
    assert {n: f["md5"] for n, f in again["files"].items()} == {n: f["md5"] for n, f in first["files"].items()}
    assert all(f["source"] == "already there" for f in again["files"].values())
    assert all("already there" in m for m in messages)
    (dest / LAYOUT / TEST_FILES[0]).write_bytes(b"not it")
    with pytest.raises(MnistError, match=r"t10k-images-idx3-ubyte\.gz is not MNIST's .*delete it and run again"):
        fake.fetch(dest, download_ok=False)


def test_no_download_and_nothing_found_says_what_to_do(tmp_path):
    with pytest.raises(MnistError) as info:
        fetch_mnist(tmp_path / "d", download_ok=False)
    message = str(info.value)
    assert "downloading is off" in message and "--archive" in message and MD5[TEST_FILES[0]] in message
    assert "\n" not in message
    assert not (tmp_path / "d").exists()


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(MnistError, match="does not exist"):
        fetch_mnist(tmp_path / "d", sources=[tmp_path / "missing"])
    junk = tmp_path / "mnist.bin"
    junk.write_bytes(b"<html>Sign in</html>")
    with pytest.raises(MnistError, match="neither one of MNIST's files nor a folder, zip or tar"):
        fetch_mnist(tmp_path / "d", sources=[junk])
    (tmp_path / "file").write_text("x")
    with pytest.raises(MnistError, match="is a file, not a folder"):
        fetch_mnist(tmp_path / "file")


def test_download_from_the_first_mirror_that_answers(fake, served, tmp_path):
    dest = tmp_path / "d"
    messages: list[str] = []
    result = fake.fetch(dest, mirrors=("http://127.0.0.1:9/", served), progress=messages.append)
    for name in TEST_FILES:
        assert (dest / LAYOUT / name).read_bytes() == fake.data[name]
        assert result["files"][name]["source"] == served + name
    assert sorted(p.name for p in (dest / LAYOUT).iterdir()) == sorted(TEST_FILES)
    assert any(m.startswith("downloading t10k-images-idx3-ubyte.gz (1.6 MB) from http://127.0.0.1:9/") for m in messages)


def test_corrupt_download_is_deleted(fake, served, tmp_path):
    dest = tmp_path / "d"
    with pytest.raises(MnistError, match="the download was deleted"):
        fake.fetch(dest, mirrors=(served,), md5s={**fake.md5s, TEST_FILES[0]: "f" * 32})
    assert not dest.exists()


def test_offline_download_failure_says_how_to_fetch_by_hand(tmp_path):
    dest = tmp_path / "d"
    with pytest.raises(DownloadError) as info:
        fetch_mnist(dest, mirrors=("http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/"))
    message = str(info.value)
    assert isinstance(info.value, RecollectionError) and "\n" not in message
    assert "http://127.0.0.1:9/a/t10k-images-idx3-ubyte.gz" in message and "http://127.0.0.1:9/b/" in message
    assert "--archive" in message and MIRRORS[0] in message and MD5[TEST_FILES[1]] in message
    assert not dest.exists()


def test_cli_fetch_and_user_errors(fake, tmp_path):
    result = runner.invoke(app, ["data", "fetch", "mnist", "--dest", str(tmp_path / "d"), "--archive", str(fake.folder),
                                 "--no-download"])
    assert result.exit_code == 2  # the fakes are not the published files: one red line, exit status 2
    assert "error:" in result.output and "md5" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["data", "fetch", "mnist", "--dest", str(tmp_path / "e"), "--no-download"])
    assert result.exit_code == 2 and "downloading is off" in result.output


def test_cli_with_the_shared_test_set(tmp_path):
    folder = shared_path("data", "mnist")
    result = runner.invoke(app, ["data", "fetch", "mnist", "--dest", str(tmp_path), "--archive", str(folder),
                                 "--no-download"])
    assert result.exit_code == 0, result.output
    assert re.search(r"MNIST test set \(10 000 digits\), 2 files, md5 checked", result.output)
    for name in TEST_FILES:
        assert md5_of(tmp_path / LAYOUT / name) == MD5[name]
    images, labels = mnist(tmp_path / LAYOUT)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
