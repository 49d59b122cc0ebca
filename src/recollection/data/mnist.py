"""MNIST's idx files (gzip, as published), checked and put where the rest of the code reads them.

``fetch_mnist(dest)`` fills ``dest/mnist/`` with the test set, the 10 000 digits that the
embedded model's recipe (``recollect train digits --dataset mnist``) and the MNIST spiking
recall (``recollect recall --dataset mnist --data DEST``) read, and, with ``train=True``, the
60 000 training digits as well. Each file comes from, in this order: ``dest/mnist`` itself
(already there), one of the ``sources`` the user names (the ``.gz`` file, a folder holding it,
or a zip / tar archive holding it), or a download that shows progress and resumes. Every file
is checked against its published md5 before it is moved into place (atomically, so a failure
never leaves a half-written file under its final name).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from ..errors import RecollectionError
from .digits import MNIST_FILES
from .download import DownloadError, download

LAYOUT = "mnist"
"""The folder under DEST that holds the idx files (what ``--data DEST`` and ``../shared/data/mnist`` mean)."""
MNIST_PAGE = "https://yann.lecun.com/exdb/mnist/"
"""MNIST's home page (LeCun, Cortes & Burges), where the four files were first published."""
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", MNIST_PAGE)
"""Where the files are downloaded from, in order: the mirror torchvision uses, then the home page."""
TEST_FILES: tuple[str, ...] = tuple(MNIST_FILES)
TRAIN_FILES: tuple[str, ...] = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
MD5: dict[str, str] = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
}
"""The md5 of each gzip file as published (the checksums torchvision has long checked)."""
SIZES: dict[str, int] = {
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
}

_CHUNK = 1 << 20

Progress = Callable[[str], object]


class MnistError(RecollectionError):
    """An MNIST file is missing, is not the published file, or cannot be put in place."""


def wanted_files(train: bool = False) -> tuple[str, ...]:
    """The idx files a fetch provides: the test set, plus the training set when ``train``."""
    return TEST_FILES + (TRAIN_FILES if train else ())


def fetch_mnist(
    dest: str | os.PathLike[str],
    *,
    train: bool = False,
    sources: Sequence[str | os.PathLike[str]] = (),
    download_ok: bool = True,
    progress: Progress | None = None,
    mirrors: Sequence[str] = MIRRORS,
    md5s: Mapping[str, str | None] = MD5,
) -> dict:
    """Put MNIST's idx files in ``dest/mnist``; returns ``{"root": ..., "files": {name: {"md5", "source"}}}``.

    Args:
        dest: the data folder; the files go to ``dest/mnist/`` (created if needed).
        train: also fetch the 60 000 training digits (about 10 MB more).
        sources: files, folders or zip / tar archives that hold the ``.gz`` files, tried before
            any download (the CLI's ``--archive``).
        download_ok: download what no source provides; when false, a missing file is an error.
        progress: receives one line per file and stage.
        mirrors: base URLs tried in order for each file.
        md5s: expected md5 per file name; None skips the check (tests with fake files).

    Raises:
        MnistError: a file is damaged or is not the published one, or is found nowhere.
        DownloadError: every mirror failed (the message says how to fetch the files by hand).
    """
    say = progress or (lambda message: None)
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise MnistError(f"--dest {dest} is a file, not a folder")
    for source in sources:
        if not Path(source).exists():
            raise MnistError(f"--archive {source} does not exist; " + _what_to_pass())
    root = dest / LAYOUT
    created = [p for p in (dest, root) if not p.exists()]
    files: dict[str, dict[str, str]] = {}
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name in wanted_files(train):
            files[name] = _provide(root, name, [Path(s) for s in sources], download_ok, mirrors, md5s.get(name), say,
                                   manual_download_hint(dest, train))
    finally:
        for folder in reversed(created):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return {"root": str(root), "files": files}


def manual_download_hint(dest: str | os.PathLike[str], train: bool = False) -> str:
    """What to do when the files cannot be downloaded: fetch them by hand and pass them with --archive."""
    names = wanted_files(train)
    checks = ", ".join(f"{name} md5 {MD5[name]}" for name in names)
    listed = ", ".join(names[:-1]) + " and " + names[-1]
    return (
        f"Download {listed} by hand (from {MIRRORS[0]} or {MNIST_PAGE}), then run "
        f"`recollect data fetch mnist --dest {dest}{' --train' if train else ''} --archive FOLDER` with the folder holding them "
        f"(or put them in {Path(dest) / LAYOUT}); each is checked against its published md5 ({checks})."
    )


def md5_of(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _what_to_pass() -> str:
    return "pass the folder holding MNIST's .gz files as published, one of the files, or a zip / tar archive holding them"


def _provide(
    root: Path, name: str, sources: list[Path], download_ok: bool, mirrors: Sequence[str], md5: str | None,
    say: Progress, hint: str,
) -> dict[str, str]:
    """Make ``root/name`` the verified file; returns its md5 and where it came from."""
    final = root / name
    if final.is_file():
        actual = md5_of(final)
        if md5 is not None and actual != md5:
            raise MnistError(
                f"{final} is not MNIST's {name} or is damaged: its md5 is {actual}, expected {md5}; "
                "delete it and run again"
            )
        say(f"{final} is already there (md5 checked)")
        return {"md5": actual, "source": "already there"}
    for source in sources:
        with _opened(source, name) as found:
            if found is None:
                continue
            stream, where = found
            say(f"using {where}")
            actual = _install(stream, final, md5, where, f"take {name} again from {MIRRORS[0]} or {MNIST_PAGE}")
            return {"md5": actual, "source": where}
    if not download_ok:
        raise MnistError(
            f"{name} was not found in {root}{' or in ' + ', '.join(map(str, sources)) if sources else ''}, "
            f"and downloading is off. {hint}"
        )
    return _download(root, name, mirrors, md5, say, hint)


def _download(
    root: Path, name: str, mirrors: Sequence[str], md5: str | None, say: Progress, hint: str
) -> dict[str, str]:
    """Fetch ``name`` from the first mirror that answers, resuming a ``.part`` left by an earlier try."""
    staged = root / f".{name}.download"
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        size = f" ({SIZES[name] / 1e6:.1f} MB)" if name in SIZES else ""
        say(f"downloading {name}{size} from {url}")
        try:
            download(url, staged, description=name)
        except DownloadError as exc:
            failures.append(f"{url}: {str(exc.reason).rstrip('.')}")
            continue
        actual = md5_of(staged)
        if md5 is not None and actual != md5:
            staged.unlink()
            raise MnistError(
                f"the {name} downloaded from {url} is damaged: its md5 is {actual}, expected {md5}; "
                "the download was deleted, run again to download it anew"
            )
        os.replace(staged, root / name)
        return {"md5": actual, "source": url}
    raise DownloadError(name, "; ".join(failures) + ". " + hint)


def _install(stream: IO[bytes], final: Path, md5: str | None, where: str, fix: str) -> str:
    """Copy ``stream`` beside ``final``, check its md5, then rename it into place; returns the md5."""
    digest = hashlib.md5(usedforsecurity=False)
    handle, temp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            while block := stream.read(_CHUNK):
                digest.update(block)
                out.write(block)
        actual = digest.hexdigest()
        if md5 is not None and actual != md5:
            raise MnistError(f"{where} is not MNIST's {final.name} or is damaged: its md5 is {actual}, "
                             f"expected {md5}; {fix}")
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return actual


@contextmanager
def _opened(source: Path, name: str) -> Iterator[tuple[IO[bytes], str] | None]:
    """The file ``name`` inside ``source`` (itself, a folder, a zip or a tar), open for reading, or None."""
    if source.is_dir():
        path = source / name
        if path.is_file():
            with open(path, "rb") as f:
                yield f, str(path)
        else:
            yield None
        return
    if source.name == name:
        with open(source, "rb") as f:
            yield f, str(source)
        return
    if source.name in MD5:  # another of MNIST's files, among several --archive files
        yield None
        return
    if zipfile.is_zipfile(source):
        with _from_zip(source, name) as found:
            yield found
        return
    if _is_tarball(source):
        with _from_tar(source, name) as found:
            yield found
        return
    raise MnistError(f"--archive {source} is neither one of MNIST's files nor a folder, zip or tar; " + _what_to_pass())


@contextmanager
def _from_zip(source: Path, name: str) -> Iterator[tuple[IO[bytes], str] | None]:
    try:
        with zipfile.ZipFile(source) as zf:
            members = [info for info in zf.infolist()
                       if PurePosixPath(info.filename).name == name and "__MACOSX" not in PurePosixPath(info.filename).parts]
            if not members:
                yield None
                return
            with zf.open(members[0]) as stream:
                yield stream, f"{source}!{members[0].filename}"
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise MnistError(f"{source} is damaged ({exc})") from None


@contextmanager
def _from_tar(source: Path, name: str) -> Iterator[tuple[IO[bytes], str] | None]:
    try:
        with tarfile.open(source, "r:*") as tar:
            member = next((m for m in tar if m.isfile() and PurePosixPath(m.name).name == name), None)
            stream = tar.extractfile(member) if member is not None else None
            if member is None or stream is None:
                yield None
                return
            with stream:
                yield stream, f"{source}!{member.name}"
    except (tarfile.TarError, zlib.error, EOFError) as exc:
        raise MnistError(f"{source} is damaged ({exc})") from None


def _is_tarball(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error):
        return False


__all__ = ["fetch_mnist", "manual_download_hint", "md5_of", "wanted_files", "MnistError", "LAYOUT", "MD5",
           "MIRRORS", "MNIST_PAGE", "TEST_FILES", "TRAIN_FILES"]
