"""Digit images for the embedded model: scikit-learn's bundled digits, or MNIST from a folder."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import RecollectionError

MNIST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1 797 8×8 digits that scikit-learn ships (offline), as uint8 0..255 and labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return images, bunch.target.astype(np.int64)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 8:
        raise RecollectionError(f"{path} is not an idx file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist(root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's idx files (gzip) from ``root``: 28×28 uint8 images and labels."""
    root = Path(root)
    missing = [name for name in MNIST_FILES if not (root / name).exists()]
    if missing:
        raise RecollectionError(f"MNIST files missing in {root}: {', '.join(missing)}")
    return _read_idx(root / MNIST_FILES[0]), _read_idx(root / MNIST_FILES[1]).astype(np.int64)
