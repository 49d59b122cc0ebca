"""Writing results safely: a file appears whole or not at all, and processes never collide.

Every writer goes through :func:`atomic_write`: the content goes to a uniquely named temporary
file beside the target (so two processes writing the same target never share a temporary name),
which then replaces the target in one ``os.replace``. A failure (a full disk, a read-only folder)
leaves no partial file behind and is reported as one :class:`OutputError` line that says where
and how much space is left.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np

from .errors import RecollectionError


class OutputError(RecollectionError):
    """A result could not be written (disk full, no permission, ...): nothing partial is left."""


def free_space(folder: str | os.PathLike) -> str:
    """Free space on the file system holding ``folder``, for error messages ("1.2 GB free")."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "free space unknown"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if free < 1000 or unit == "TB":
            return f"{free:.0f} {unit} free" if unit == "B" else f"{free:.1f} {unit} free"
        free /= 1000
    return ""  # pragma: no cover


def output_error(path: str | os.PathLike, e: OSError) -> OutputError:
    """One line for a failed write: the path, the reason and, for a full disk, the space left."""
    path = Path(path)
    reason = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += f" ({free_space(path.parent if path.parent.exists() else '.')} on that disk)"
    return OutputError(f"cannot write {path}: {reason}")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a fresh temporary file beside ``path``, then move it into place."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise output_error(path, e) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, payload: Any, indent: int | None = 2) -> Path:
    """JSON (NumPy scalars and paths written as plain values), newline-terminated."""
    return write_text(path, json.dumps(payload, indent=indent, default=_plain) + "\n")


def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    return atomic_write(path, lambda fh: np.save(fh, array, allow_pickle=False))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return str(value)
    return float(value)


def to_uint8(image: Any) -> np.ndarray:
    """An image as H×W or H×W×3 uint8: a C×H×W tensor or array (C = 1 or 3) or an H×W(×3) array,
    floats in [0, 1] (clipped) or uint8 as they are."""
    if hasattr(image, "detach"):  # a torch tensor
        image = image.detach().float().cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    elif array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(array)


def png_bytes(image: Any, side: int | None = None) -> bytes:
    """An image (see :func:`to_uint8`) encoded as PNG, optionally resized to ``side`` × ``side``
    (nearest neighbour when enlarging, so pixels stay visible; bilinear when shrinking)."""
    import io

    buffer = io.BytesIO()
    _picture(image, side).save(buffer, "PNG")
    return buffer.getvalue()


def save_png(image: Any, path: str | os.PathLike, side: int | None = None) -> Path:
    """Write an image (see :func:`to_uint8`) as a PNG, atomically."""
    picture = _picture(image, side)
    return atomic_write(path, lambda fh: picture.save(fh, "PNG"))


def _picture(image: Any, side: int | None):
    from PIL import Image

    picture = Image.fromarray(to_uint8(image))
    if side is not None and picture.size != (side, side):
        enlarge = picture.width < side
        picture = picture.resize((side, side), Image.NEAREST if enlarge else Image.BILINEAR)
    return picture


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write a matplotlib figure as a PNG, atomically (nothing left behind when the disk is full)."""
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi))


def figure_png(fig, dpi: int = 120) -> bytes:
    """A matplotlib figure as PNG bytes (for embedding in reports and the dashboard)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# --- reading arrays a user hands us -----------------------------------------------------------------
NUMERIC_KINDS = {"f": "float", "i": "int", "u": "unsigned int", "b": "bool"}


def read_npy(path: str | os.PathLike, *, max_bytes: int = 2**30, kinds: str = "fiu", finite: bool = False,
             error: type[RecollectionError] = RecollectionError) -> np.ndarray:
    """A ``.npy`` array, checked before its data is read: a regular file (never a FIFO or device),
    a header that parses, a real numeric dtype (``kinds``), at most ``max_bytes`` of data and a file
    long enough to hold it; with ``finite``, NaN and infinities are refused too. Every problem is
    one ``error`` line that names the file."""
    path = Path(path)
    if not path.is_file():
        reason = "no such file" if not path.exists() else "not a regular file (a directory, pipe or device)"
        raise error(f"{path}: {reason}")
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
            start = fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        reason = "the file is empty" if path.stat().st_size == 0 else " ".join(str(e).split()) or type(e).__name__
        raise error(f"{path} is not a readable .npy array ({reason})") from None
    if dtype.kind not in kinds or dtype.hasobject or dtype.names:
        wanted = " or ".join(NUMERIC_KINDS.get(k, k) for k in kinds)
        raise error(f"{path} holds {_dtype_words(dtype)} values; expected {wanted} numbers")
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > max_bytes:
        raise error(f"{path}: its header asks for {size / 2**20:,.0f} MB (shape {shape}); "
                    f"at most {max_bytes / 2**20:,.0f} MB are expected here")
    if path.stat().st_size < start + size:
        raise error(f"{path} is truncated: its header promises {size} bytes of data, the file holds "
                    f"{max(0, path.stat().st_size - start)}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise error(f"{path} is not a readable .npy array ({' '.join(str(e).split())})") from None
    if finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise error(f"{path} holds NaN or infinite values")
    return array


def _dtype_words(dtype: np.dtype) -> str:
    words = {"c": "complex", "U": "string", "S": "byte-string", "O": "Python object", "V": "structured",
             "M": "date", "m": "time-delta"}
    return words.get(dtype.kind, NUMERIC_KINDS.get(dtype.kind, str(dtype)))
