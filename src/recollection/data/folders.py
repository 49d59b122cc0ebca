"""Image-folder datasets: one sub-folder per class (e.g. ImageNetV2's layout)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RecollectionError
from .images import IMAGE_SUFFIXES


def image_folder(root: str | os.PathLike) -> tuple[list[Path], list[int], list[str]]:
    """Files, label per file and class-folder names (sorted) of an image-folder dataset."""
    root = Path(root)
    if not root.is_dir():
        raise RecollectionError(f"{root} is not a directory of class folders")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise RecollectionError(f"{root} has no class sub-folders (expected {root}/<class>/<image>)")
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise RecollectionError(f"class folder {root / name} holds no images")
        files += found
        labels += [label] * len(found)
    return files, labels, classes
