"""Caltech-101 Faces and Motorbikes, split the way the naming experiments use them.

``fetch_caltech101`` takes the official Caltech-101 archive (a file the user downloaded, one
already in the destination folder, or a fresh download that shows progress and resumes),
checks it against its published md5, reads only the ``Faces`` and ``Motorbikes`` images out
of it and builds, with a seeded random split::

    DEST/caltech_face_motor/
        TrainingSet/{Face,Motor}/   200 + 200
        TestingSet/{Face,Motor}/    198 + 198, disjoint from the learning (and training) set
        LearningSet/{Face,Motor}/   237 + 237, the training set plus 37 more per class
        split.json                  seed, sizes, file lists, the archive's checksums

The layout is built in a hidden folder beside it and renamed into place at the end, so a
failure never leaves a half-written ``caltech_face_motor``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import OptionError, RecollectionError
from .download import DownloadError, download
from .images import IMAGE_SUFFIXES

CALTECH101_PAGE = "https://data.caltech.edu/records/mzrjq-6wc02"
"""The dataset's home on CaltechDATA (doi:10.22002/D1.20086), where ``caltech-101.zip`` is offered."""
CALTECH101_URL = f"{CALTECH101_PAGE}/files/caltech-101.zip?download=1"
ZIP_NAME = "caltech-101.zip"
ZIP_MD5 = "3138e1922a9193bfa496528edbbc45d0"
"""md5 of caltech-101.zip (137,414,764 bytes) as published by dataset loaders that fetch it from CaltechDATA."""
TAR_NAME = "101_ObjectCategories.tar.gz"
TAR_MD5 = "b224c7392d521a49829488ab0f1120d9"
"""md5 of the images tarball inside the zip (131,740,031 bytes), the one torchvision has long checked."""
ZIP_SIZE_MB = 137

LAYOUT = "caltech_face_motor"
CLASSES = {"Face": "Faces", "Motor": "Motorbikes"}
"""Class folder in the layout -> category folder in 101_ObjectCategories (``Faces``, never ``Faces_easy``)."""
TRAINING, TESTING, LEARNING = "TrainingSet", "TestingSet", "LearningSet"
SPLIT_FILE = "split.json"
METHOD = (
    "per class, in the order Face, Motor: the category's image names sorted, shuffled by one "
    "random.Random(seed); the first n_test are the TestingSet, the next n_learn the LearningSet, "
    "and the first n_train of the LearningSet the TrainingSet"
)

_CHUNK = 1 << 20

Progress = Callable[[str], object]


class CaltechError(RecollectionError):
    """The Caltech-101 archive is missing, is not the expected file, or cannot give the asked-for split."""


def fetch_caltech101(
    dest: str | os.PathLike,
    seed: int = 0,
    archive: str | os.PathLike | None = None,
    download_ok: bool = True,
    progress: Progress | None = None,
    *,
    n_train: int = 200,
    n_test: int = 198,
    n_learn: int = 237,
    url: str = CALTECH101_URL,
    zip_md5: str | None = ZIP_MD5,
    tar_md5: str | None = TAR_MD5,
    overwrite: bool = False,
) -> dict:
    """Build ``dest/caltech_face_motor`` from the Caltech-101 archive; returns split.json's content plus ``root``.

    The archive is ``archive`` when given (``caltech-101.zip``, or the ``101_ObjectCategories.tar.gz``
    it holds), else ``dest/caltech-101.zip`` or ``dest/101_ObjectCategories.tar.gz`` when present, else
    it is downloaded from ``url`` into ``dest/caltech-101.zip`` (resuming a ``.part`` left by an earlier
    try) unless ``download_ok`` is false. The zip must have md5 ``zip_md5`` and the tarball ``tar_md5``
    (None skips a check: for tests with a fake archive). ``progress`` receives one line per stage.

    When ``dest/caltech_face_motor`` already holds a split with the same seed and sizes it is returned
    as it is; one with another split is an error unless ``overwrite``.
    """
    _check_sizes(n_train, n_test, n_learn)
    say = progress or (lambda message: None)
    dest = Path(dest)
    final = dest / LAYOUT
    if dest.exists() and not dest.is_dir():
        raise CaltechError(f"--dest {dest} is a file, not a folder")
    if final.exists() and not overwrite:
        existing = _existing_split(final, seed, n_train, n_test, n_learn)
        say(f"{final} already holds this split (seed {seed}); nothing to do")
        return existing

    created_dest = not dest.exists()
    try:
        source, downloaded = _obtain_archive(dest, archive, download_ok, url, say)
        return _build(source, downloaded, final, seed, (n_train, n_test, n_learn), zip_md5, tar_md5, say)
    finally:
        if created_dest and dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()


def manual_download_hint(dest: str | os.PathLike) -> str:
    """What to do when the archive cannot be downloaded: fetch it by hand and pass it with --archive."""
    return (
        f"Download {ZIP_NAME} (about {ZIP_SIZE_MB} MB) by hand from {CALTECH101_PAGE} (its 'Files' "
        f"section; direct link {CALTECH101_URL}), then run `recollect data fetch caltech101 --dest {dest} "
        f"--archive PATH/TO/{ZIP_NAME}` (or put the file at {Path(dest) / ZIP_NAME}); it is checked "
        f"against its published md5 {ZIP_MD5}, and {TAR_NAME} taken out of it (md5 {TAR_MD5}) is "
        "accepted too."
    )


def file_digests(path: str | os.PathLike) -> dict[str, str]:
    """Hex md5 and sha256 of a file, read once in chunks."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            md5.update(block)
            sha256.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def _check_sizes(n_train: int, n_test: int, n_learn: int) -> None:
    if n_train < 1 or n_test < 1:
        raise OptionError(f"the training and testing sets need at least one image per class (got {n_train}, {n_test})")
    if n_learn < n_train:
        raise OptionError(f"the learning set ({n_learn} per class) must hold the training set ({n_train} per class)")


def _existing_split(final: Path, seed: int, n_train: int, n_test: int, n_learn: int) -> dict:
    """split.json of an already built layout when it matches the request and its folders; else CaltechError."""
    wanted = {TRAINING: n_train, TESTING: n_test, LEARNING: n_learn}
    try:
        split = json.loads((final / SPLIT_FILE).read_text())
        same = split["seed"] == seed and split["sizes"] == wanted
        complete = all(
            sorted(p.name for p in (final / part / cls).iterdir()) == sorted(split["splits"][part][cls])
            for part in wanted
            for cls in CLASSES
        )
    except (OSError, ValueError, KeyError, TypeError):
        raise CaltechError(
            f"{final} already exists but is not a complete layout written by this command; "
            "delete it or choose another --dest"
        ) from None
    if not complete:
        raise CaltechError(
            f"{final} is incomplete (its folders do not match its {SPLIT_FILE}); delete it and run again"
        )
    if not same:
        raise CaltechError(
            f"{final} already holds another split (seed {split['seed']}, sizes {split['sizes']}); "
            "delete it, choose another --dest, or overwrite it"
        )
    return {**split, "root": str(final)}


def _obtain_archive(
    dest: Path, archive: str | os.PathLike | None, download_ok: bool, url: str, say: Progress
) -> tuple[Path, bool]:
    """The archive to read and whether this call downloaded it."""
    if archive is not None:
        path = Path(archive)
        if not path.is_file():
            raise CaltechError(
                f"--archive {path} is not a file; pass {ZIP_NAME} (or the {TAR_NAME} inside it) "
                f"as downloaded from {CALTECH101_PAGE}"
            )
        return path, False
    for name in (ZIP_NAME, TAR_NAME):
        if (dest / name).is_file():
            say(f"using {dest / name}")
            return dest / name, False
    if not download_ok:
        raise CaltechError(f"no Caltech-101 archive was given or found in {dest}, and downloading is off. "
                           + manual_download_hint(dest))
    say(f"downloading {ZIP_NAME} (about {ZIP_SIZE_MB} MB) from {CALTECH101_PAGE}")
    try:
        return download(url, dest / ZIP_NAME, description=ZIP_NAME), True
    except DownloadError as exc:
        reason = str(exc.reason).rstrip(".")
        raise DownloadError(exc.url, f"{reason}. {manual_download_hint(dest)}") from None


def _build(
    source: Path,
    downloaded: bool,
    final: Path,
    seed: int,
    sizes: tuple[int, int, int],
    zip_md5: str | None,
    tar_md5: str | None,
    say: Progress,
) -> dict:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{LAYOUT}.", suffix=".tmp", dir=final.parent))
    try:
        record = _verified_images(source, downloaded, tmp / "_work", zip_md5, tar_md5, say)
        say("choosing the split")
        pools = {cls: tmp / "_work" / "images" / category for cls, category in CLASSES.items()}
        splits = _split({cls: sorted(p.name for p in pool.iterdir()) for cls, pool in pools.items()}, seed, *sizes)
        for part, per_class in splits.items():
            for cls, names in per_class.items():
                folder = tmp / part / cls
                folder.mkdir(parents=True)
                for name in names:
                    shutil.copyfile(pools[cls] / name, folder / name)
        n_train, n_test, n_learn = sizes
        split = {
            "dataset": "Caltech-101 Faces and Motorbikes (Li, Andreeto, Ranzato & Perona; doi:10.22002/D1.20086)",
            "source": CALTECH101_PAGE,
            "archive": record,
            "seed": seed,
            "method": METHOD,
            "classes": dict(CLASSES),
            "available": {cls: sum(1 for _ in pool.iterdir()) for cls, pool in pools.items()},
            "sizes": {TRAINING: n_train, TESTING: n_test, LEARNING: n_learn},
            "splits": splits,
        }
        (tmp / SPLIT_FILE).write_text(json.dumps(split, indent=2) + "\n")
        shutil.rmtree(tmp / "_work")
        _move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"wrote {final}")
    return {**split, "root": str(final)}


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing ``final`` (overwrite) is moved aside first, then deleted."""
    if not final.exists():
        os.rename(tmp, final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{LAYOUT}.old.", dir=final.parent))
    os.rename(final, old / LAYOUT)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(old / LAYOUT, final)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _verified_images(
    source: Path, downloaded: bool, work: Path, zip_md5: str | None, tar_md5: str | None, say: Progress
) -> dict:
    """Check ``source`` and unpack its Faces and Motorbikes images into ``work/images``; returns the checksums."""
    work.mkdir(parents=True)
    say(f"checking {source}")
    digests = file_digests(source)
    record: dict = {"file": source.name, **digests}
    if zipfile.is_zipfile(source):
        record["kind"] = "zip"
        _expect(source, digests["md5"], zip_md5, ZIP_NAME, delete=downloaded)
        tarball = work / TAR_NAME
        inner_md5 = _copy_tarball_out(source, tarball)
        record["images_archive"] = {"file": TAR_NAME, "md5": inner_md5}
        _expect(source, inner_md5, tar_md5, f"the {TAR_NAME} inside {ZIP_NAME}", delete=False)
    elif _is_tarball(source):
        record["kind"] = "tar.gz"
        tarball = source
        _expect(source, digests["md5"], tar_md5, TAR_NAME, delete=downloaded)
    else:
        if downloaded:
            source.unlink()
        raise CaltechError(
            f"{source} is neither a zip nor a tar archive; pass {ZIP_NAME} as downloaded from {CALTECH101_PAGE}"
            + (" (the download was deleted; run again to download it anew)" if downloaded else "")
        )
    say(f"extracting {' and '.join(CLASSES.values())}")
    counts = _extract_categories(source, tarball, work / "images")
    if tarball != source:
        tarball.unlink()
    return record | {"images": counts}


def _expect(source: Path, actual: str, expected: str | None, what: str, *, delete: bool) -> None:
    if expected is None or actual == expected.lower():
        return
    if delete:
        source.unlink()
        fix = "the download was deleted; run again to download it anew"
    else:
        fix = f"download {ZIP_NAME} again from {CALTECH101_PAGE} and pass it with --archive"
    raise CaltechError(
        f"{source} is not the Caltech-101 archive or is damaged: the md5 of {what} is {actual}, "
        f"expected {expected.lower()}; {fix}"
    )


def _is_tarball(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error):
        return False


def _copy_tarball_out(source: Path, tarball: Path) -> str:
    """Copy the zip's 101_ObjectCategories.tar.gz (not a __MACOSX shadow) to ``tarball``; returns its md5."""
    try:
        with zipfile.ZipFile(source) as zf:
            paths = [(info, PurePosixPath(info.filename)) for info in zf.infolist()]
            members = [info for info, path in paths if path.name == TAR_NAME and "__MACOSX" not in path.parts]
            if not members:
                raise CaltechError(
                    f"{source} holds no {TAR_NAME}; is it {ZIP_NAME} from {CALTECH101_PAGE}?"
                )
            md5 = hashlib.md5(usedforsecurity=False)
            with zf.open(members[0]) as src, open(tarball, "wb") as out:
                while block := src.read(_CHUNK):
                    md5.update(block)
                    out.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CaltechError(f"{source} is damaged ({exc}); download {ZIP_NAME} again from {CALTECH101_PAGE}") from None
    return md5.hexdigest()


def _extract_categories(source: Path, tarball: Path, out: Path) -> dict[str, int]:
    """Write the images of the wanted categories (plain files, flat) under ``out/<category>``; returns counts."""
    wanted = set(CLASSES.values())
    for category in wanted:
        (out / category).mkdir(parents=True)
    counts = dict.fromkeys(sorted(wanted), 0)
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if (
                    not member.isfile()
                    or len(parts) < 3
                    or parts[-3] != "101_ObjectCategories"
                    or parts[-2] not in wanted
                    or parts[-1].startswith(".")
                    or PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES
                ):
                    continue
                target = out / parts[-2] / parts[-1]
                src = tar.extractfile(member)
                if src is None:  # (a regular member always has a file object)
                    continue
                with src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                counts[parts[-2]] += 1
    except (tarfile.TarError, zlib.error, EOFError) as exc:
        raise CaltechError(f"{source} is damaged ({exc}); download {ZIP_NAME} again from {CALTECH101_PAGE}") from None
    return counts


def _split(names: dict[str, list[str]], seed: int, n_train: int, n_test: int, n_learn: int) -> dict:
    """{part: {class: sorted names}}: test and learning disjoint, training the first n_train of learning."""
    rng = random.Random(seed)
    splits: dict[str, dict[str, list[str]]] = {TRAINING: {}, TESTING: {}, LEARNING: {}}
    for cls in CLASSES:
        pool = sorted(names[cls])
        if len(pool) < n_test + n_learn:
            raise CaltechError(
                f"the archive holds {len(pool)} images of {CLASSES[cls]}, but the split needs "
                f"{n_test} testing + {n_learn} learning = {n_test + n_learn}; is it the Caltech-101 archive "
                f"from {CALTECH101_PAGE}?"
            )
        rng.shuffle(pool)
        learning = pool[n_test : n_test + n_learn]
        splits[TESTING][cls] = sorted(pool[:n_test])
        splits[LEARNING][cls] = sorted(learning)
        splits[TRAINING][cls] = sorted(learning[:n_train])
    return splits
