"""Caltech-101 Faces/Motorbikes fetch and split, on a tiny fake archive with the real nesting (offline)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from recollection.data import caltech
from recollection.data.caltech import (
    CALTECH101_PAGE,
    CALTECH101_URL,
    LAYOUT,
    TAR_MD5,
    ZIP_MD5,
    CaltechError,
    fetch_caltech101,
)
from recollection.data.download import DownloadError
from recollection.errors import OptionError, RecollectionError

SIZES = {"n_train": 3, "n_test": 2, "n_learn": 4}
PARTS = ("TrainingSet", "TestingSet", "LearningSet")
COUNTS = {"Faces": 7, "Faces_easy": 7, "Motorbikes": 9, "airplanes": 3, "BACKGROUND_Google": 2}


def _jpeg(category: str, index: int) -> bytes:
    """A small JPEG whose colour tells its category and index apart."""
    shade = (sorted(COUNTS).index(category) * 40, index * 20 % 256, 128)
    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), shade).save(buffer, format="JPEG")
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _tarball(counts: dict[str, int]) -> tuple[bytes, dict[str, dict[str, bytes]]]:
    images = {cat: {f"image_{i:04d}.jpg": _jpeg(cat, i) for i in range(1, n + 1)} for cat, n in counts.items()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for cat, files in images.items():
            for name, data in files.items():
                _add(tar, f"101_ObjectCategories/{cat}/{name}", data)
        _add(tar, "101_ObjectCategories/BACKGROUND_Google/tmp", b"not an image")
        _add(tar, "101_ObjectCategories/Faces/._image_0001.jpg", b"AppleDouble junk")
    return buffer.getvalue(), images


def _zip(tarball: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("__MACOSX/caltech-101/._101_ObjectCategories.tar.gz", b"resource fork")
        zf.writestr("caltech-101/101_ObjectCategories.tar.gz", tarball)
        zf.writestr("caltech-101/Annotations.tar", b"annotations")
        zf.writestr("caltech-101/show_annotation.m", b"% matlab")
    return buffer.getvalue()


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class Fake:
    """A fake caltech-101.zip on disk, with the checksums to inject."""

    def __init__(self, root: Path, counts: dict[str, int] = COUNTS) -> None:
        self.tarball, self.images = _tarball(counts)
        self.data = _zip(self.tarball)
        self.zip = root / "caltech-101.zip"
        self.zip.write_bytes(self.data)
        self.md5s = {"zip_md5": _md5(self.data), "tar_md5": _md5(self.tarball)}

    def fetch(self, dest: Path, **kwargs) -> dict:
        options = {"archive": self.zip, **SIZES, **self.md5s, "url": "http://127.0.0.1:9/none", **kwargs}
        return fetch_caltech101(dest, **options)


@pytest.fixture
def fake(tmp_path) -> Fake:
    (tmp_path / "downloads").mkdir()
    return Fake(tmp_path / "downloads")


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/caltech-101.zip"


def _names(root: Path, part: str, cls: str) -> set[str]:
    return {p.name for p in (root / part / cls).iterdir()}


def test_layout_sizes_and_split_json(fake, tmp_path):
    dest = tmp_path / "data"
    messages: list[str] = []
    result = fake.fetch(dest, seed=3, progress=messages.append)
    root = dest / LAYOUT
    assert result["root"] == str(root)
    assert sorted(p.name for p in root.iterdir()) == sorted([*PARTS, "split.json"])
    wanted = {"TrainingSet": 3, "TestingSet": 2, "LearningSet": 4}
    for part, n in wanted.items():
        assert sorted(p.name for p in (root / part).iterdir()) == ["Face", "Motor"]
        for cls in ("Face", "Motor"):
            assert len(_names(root, part, cls)) == n
    split = json.loads((root / "split.json").read_text())
    assert {k: v for k, v in result.items() if k != "root"} == split
    assert split["seed"] == 3 and split["sizes"] == wanted
    assert split["archive"]["md5"] == fake.md5s["zip_md5"]
    assert split["archive"]["sha256"] == hashlib.sha256(fake.data).hexdigest()
    assert split["archive"]["images_archive"]["md5"] == fake.md5s["tar_md5"]
    assert split["available"] == {"Face": 7, "Motor": 9}
    for part in PARTS:
        for cls in ("Face", "Motor"):
            assert split["splits"][part][cls] == sorted(_names(root, part, cls))
    assert messages and messages[-1] == f"wrote {root}"
    assert [p.name for p in dest.iterdir()] == [LAYOUT]  # no temp folder, no extracted tarball left


def test_disjoint_and_learning_holds_training(fake, tmp_path):
    root = Path(fake.fetch(tmp_path / "d", seed=5)["root"])
    for cls in ("Face", "Motor"):
        train, test, learn = (_names(root, part, cls) for part in PARTS)
        assert train <= learn
        assert not test & learn and not test & train
    assert _names(root, "TestingSet", "Face") | _names(root, "LearningSet", "Face") <= set(fake.images["Faces"])


def test_images_come_from_faces_and_motorbikes_only(fake, tmp_path):
    root = Path(fake.fetch(tmp_path / "d")["root"])
    for cls, category in (("Face", "Faces"), ("Motor", "Motorbikes")):
        for part in PARTS:
            for path in (root / part / cls).iterdir():
                assert path.read_bytes() == fake.images[category][path.name]
    faces = {p.read_bytes() for part in PARTS for p in (root / part / "Face").iterdir()}
    assert not faces & set(fake.images["Faces_easy"].values())


def test_same_seed_same_split_other_seed_other_split(fake, tmp_path):
    a = fake.fetch(tmp_path / "a", seed=1)["splits"]
    b = fake.fetch(tmp_path / "b", seed=1)["splits"]
    c = fake.fetch(tmp_path / "c", seed=2)["splits"]
    assert a == b
    assert a != c


def test_default_sizes_are_the_papers(fake, tmp_path):
    with pytest.raises(CaltechError, match=r"7 images of Faces.*198 testing \+ 237 learning = 435"):
        fetch_caltech101(tmp_path / "d", archive=fake.zip, **fake.md5s)
    assert not (tmp_path / "d").exists()


def test_wrong_zip_checksum_is_refused_and_leaves_nothing(fake, tmp_path):
    dest = tmp_path / "d"
    with pytest.raises(CaltechError, match=r"md5 of caltech-101\.zip is [0-9a-f]{32}, expected 0{32}.*--archive"):
        fake.fetch(dest, zip_md5="0" * 32)
    assert not dest.exists()
    assert fake.zip.read_bytes() == fake.data  # the user's file is never deleted


def test_wrong_inner_tarball_checksum_is_refused(fake, tmp_path):
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(CaltechError, match=r"md5 of the 101_ObjectCategories\.tar\.gz inside"):
        fake.fetch(dest, tar_md5="f" * 32)
    assert list(dest.iterdir()) == []


def test_real_checksums_refuse_the_fake(fake, tmp_path):
    with pytest.raises(CaltechError, match=ZIP_MD5):
        fetch_caltech101(tmp_path / "d", archive=fake.zip, **SIZES)
    assert not (tmp_path / "d").exists()


def test_too_few_images_is_a_clear_error(tmp_path):
    fake = Fake(tmp_path, counts={"Faces": 7, "Motorbikes": 5, "Faces_easy": 9})
    with pytest.raises(CaltechError, match=r"holds 5 images of Motorbikes.*2 testing \+ 4 learning = 6"):
        fake.fetch(tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_bad_sizes_are_option_errors(fake, tmp_path):
    with pytest.raises(OptionError, match="must hold the training set"):
        fake.fetch(tmp_path / "d", n_train=5, n_learn=4)
    with pytest.raises(OptionError):
        fake.fetch(tmp_path / "d", n_test=0)


def test_offline_download_failure_says_how_to_fetch_by_hand(tmp_path, closed_port_url):
    dest = tmp_path / "d"
    with pytest.raises(DownloadError) as info:
        fetch_caltech101(dest, url=closed_port_url, **SIZES)
    message = str(info.value)
    assert isinstance(info.value, RecollectionError)
    assert "\n" not in message
    assert closed_port_url in message and CALTECH101_PAGE in message
    assert "--archive" in message and "caltech-101.zip" in message and ZIP_MD5 in message
    assert not dest.exists()


def test_no_download_and_no_archive(tmp_path):
    with pytest.raises(CaltechError, match=r"downloading is off.*--archive"):
        fetch_caltech101(tmp_path / "d", download_ok=False)
    with pytest.raises(CaltechError, match=r"is not a file.*caltech-101\.zip"):
        fetch_caltech101(tmp_path / "d", archive=tmp_path / "missing.zip")


def test_archive_already_in_dest_is_used_without_download(fake, tmp_path, closed_port_url):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "caltech-101.zip").write_bytes(fake.data)
    result = fake.fetch(dest, archive=None, url=closed_port_url, download_ok=False)
    assert result["archive"]["md5"] == fake.md5s["zip_md5"]
    assert (dest / LAYOUT / "split.json").is_file()


def test_inner_tarball_is_accepted_as_archive(fake, tmp_path):
    tarball = tmp_path / "101_ObjectCategories.tar.gz"
    tarball.write_bytes(fake.tarball)
    by_tar = fake.fetch(tmp_path / "t", archive=tarball, seed=4)
    by_zip = fake.fetch(tmp_path / "z", seed=4)
    assert by_tar["archive"]["kind"] == "tar.gz" and by_zip["archive"]["kind"] == "zip"
    assert by_tar["splits"] == by_zip["splits"]
    with pytest.raises(CaltechError, match="md5 of 101_ObjectCategories.tar.gz"):
        fake.fetch(tmp_path / "bad", archive=tarball, tar_md5="0" * 32)
    assert tarball.is_file()


def test_not_an_archive(tmp_path):
    junk = tmp_path / "caltech-101.zip"
    junk.write_bytes(b"<html>Sign in</html>")
    with pytest.raises(CaltechError, match="neither a zip nor a tar"):
        fetch_caltech101(tmp_path / "d", archive=junk)
    assert not (tmp_path / "d").exists()


def test_zip_without_the_tarball(tmp_path):
    empty = tmp_path / "other.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", b"hello")
    with pytest.raises(CaltechError, match="holds no 101_ObjectCategories.tar.gz"):
        fetch_caltech101(tmp_path / "d", archive=empty, zip_md5=None)


@pytest.fixture
def served(fake):
    handler = partial(SimpleHTTPRequestHandler, directory=str(fake.zip.parent))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/caltech-101.zip"
    httpd.shutdown()
    httpd.server_close()


def test_download_then_rerun_is_a_no_op(fake, served, tmp_path):
    dest = tmp_path / "d"
    first = fake.fetch(dest, archive=None, url=served, seed=7)
    assert (dest / "caltech-101.zip").read_bytes() == fake.data  # kept, so a rerun needs no download
    messages: list[str] = []
    again = fake.fetch(dest, archive=None, url="http://127.0.0.1:9/x", seed=7, progress=messages.append)
    assert again == first
    assert "nothing to do" in messages[-1]


def test_corrupt_download_is_deleted(fake, served, tmp_path):
    dest = tmp_path / "d"
    with pytest.raises(CaltechError, match="the download was deleted"):
        fake.fetch(dest, archive=None, url=served, zip_md5="0" * 32)
    assert not dest.exists()


def test_other_split_in_place_needs_overwrite(fake, tmp_path):
    dest = tmp_path / "d"
    fake.fetch(dest, seed=1)
    with pytest.raises(CaltechError, match=r"another split \(seed 1"):
        fake.fetch(dest, seed=2)
    result = fake.fetch(dest, seed=2, overwrite=True)
    assert json.loads((dest / LAYOUT / "split.json").read_text())["seed"] == 2 == result["seed"]
    assert sorted(p.name for p in dest.iterdir()) == [LAYOUT]


def test_foreign_folder_in_place_is_not_touched(fake, tmp_path):
    root = tmp_path / "d" / LAYOUT
    (root / "TrainingSet").mkdir(parents=True)
    with pytest.raises(CaltechError, match="not a complete layout"):
        fake.fetch(tmp_path / "d")
    assert (root / "TrainingSet").is_dir()


def test_failure_midway_leaves_nothing(fake, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(caltech.shutil, "copyfile", boom)
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(OSError, match="disk full"):
        fake.fetch(dest)
    assert list(dest.iterdir()) == []


def test_official_constants():
    assert CALTECH101_URL.startswith("https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip")
    assert re.fullmatch(r"[0-9a-f]{32}", ZIP_MD5) and re.fullmatch(r"[0-9a-f]{32}", TAR_MD5)
