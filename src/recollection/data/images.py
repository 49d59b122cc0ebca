"""Load input images safely: one-line errors for bad files, bounded memory for huge ones."""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from recollection.errors import ImageError, OptionError

MIN_SIDE = 8
MAX_PIXELS = 64_000_000  # refused above this, counted after any JPEG draft
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
_DEFAULT_DRAFT_SIDE = 256  # draft target for over-limit JPEGs when the caller names none
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_pixel_limit_lock = threading.Lock()


def load_image(path: str | os.PathLike, *, shorter_side: int | None = None) -> Image.Image:
    """Decode an image file into a fully loaded 8-bit RGB image, or raise ImageError.

    With ``shorter_side``, JPEGs are decoded at 1/2, 1/4 or 1/8 scale where that keeps
    the shorter side >= ``shorter_side``, so huge photos are never decoded at full size.
    Other formats come back at full size: resizing to an exact size is the caller's job.
    """
    if shorter_side is not None and shorter_side < 1:
        raise OptionError(f"shorter_side must be a positive number of pixels, got {shorter_side}")
    path = Path(path)
    _check_is_file(path)
    with _open_lazily(path) as image:
        header_size = image.size
        _check_min_size(path, header_size)
        _draft(image, shorter_side)
        _check_max_pixels(path, header_size, image.size)
        return _decode(path, image)


UPLOAD_FORMATS = frozenset({"PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM"})


def load_image_bytes(data: bytes, name: str = "upload", *, shorter_side: int | None = None,
                     max_pixels: int = MAX_PIXELS, reduce: bool = False) -> Image.Image:
    """Decode an uploaded image held in memory, with the same guards as ``load_image`` (pixel
    limits, decompression bombs, one-line errors) and only the common formats accepted;
    ``max_pixels`` (counted after any JPEG draft) lets a server keep a tighter limit than the CLI.
    With ``reduce``, every format is shrunk by an integer factor (keeping the shorter side at least
    ``shorter_side``) before the RGB conversion, so a big upload never exists in RGB at full size."""
    label = Path(name)
    with _open_lazily(label, io.BytesIO(data)) as image:
        if image.format not in UPLOAD_FORMATS:
            raise ImageError(f"{name}: {image.format} images are not accepted; use PNG, JPEG, GIF, BMP, WebP or TIFF")
        header_size = image.size
        _check_min_size(label, header_size)
        _draft(image, shorter_side)
        _check_max_pixels(label, header_size, image.size, max_pixels)
        return _decode(label, image, shorter_side if reduce else None)


def image_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand each directory into its image files (sorted, by suffix); keep other paths as given."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            images = (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            files.extend(sorted(p for p in images if p.is_file()))
        else:
            files.append(path)
    return files


def _check_is_file(path: Path) -> None:
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    if not path.exists():
        raise ImageError(f"{path}: no such file; check the path")
    if not path.is_file():  # a FIFO would block the read forever, a device could be endless
        raise ImageError(f"{path}: not a regular file (a pipe, socket or device); give an image file")


def _open_lazily(path: Path, fp: io.BytesIO | None = None) -> Image.Image:
    """Read only the header, PIL's own pixel limit lifted: MAX_PIXELS is applied after any draft.

    The lift is process-wide while Image.open parses the header (microseconds); the lock only
    serialises callers of this function.
    """
    try:
        with _pixel_limit_lock:
            saved_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                return Image.open(fp if fp is not None else path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved_limit
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file, or in a format Pillow cannot read") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied; make the file readable") from None
    except _DECODE_ERRORS as error:
        raise ImageError(f"{path}: cannot read the image header ({_one_line(error)})") from None


def _check_min_size(path: Path, size: tuple[int, int]) -> None:
    width, height = size
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{path}: image is {width}×{height} pixels; at least {MIN_SIDE}×{MIN_SIDE} are needed"
        )


def _draft(image: Image.Image, shorter_side: int | None) -> None:
    """Let the JPEG decoder downsample by 1/2, 1/4 or 1/8 (a no-op for other formats)."""
    target = shorter_side
    if target is None and image.width * image.height > MAX_PIXELS:
        target = _DEFAULT_DRAFT_SIDE
    if target is not None:
        target = max(target, MIN_SIDE)
        image.draft("RGB", (target, target))


def _check_max_pixels(
    path: Path, header_size: tuple[int, int], decoded_size: tuple[int, int], limit: int = MAX_PIXELS
) -> None:
    if decoded_size[0] * decoded_size[1] <= limit:
        return
    width, height = header_size
    megapixels = f"{width * height / 1e6:.1f}".removesuffix(".0")
    raise ImageError(
        f"{path}: image is {width}×{height} pixels ({megapixels} Mpx); "
        f"images above {limit / 1_000_000:g} Mpx are refused: downscale it first"
    )


def _decode(path: Path, image: Image.Image, reduce_to: int | None = None) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # in place: one fewer full-size copy
            return _to_rgb(_reduce(image, reduce_to) if reduce_to else image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{path}: refused as a possible decompression bomb (too many pixels); "
            "downscale it first"
        ) from None
    except _DECODE_ERRORS as error:
        if "truncated" in str(error):
            raise ImageError(
                f"{path}: image data is truncated; the file is incomplete or damaged"
            ) from None
        raise ImageError(f"{path}: cannot decode the image ({_one_line(error)})") from None


def _reduce(image: Image.Image, shorter_side: int) -> Image.Image:
    """Box-shrink by the largest integer factor that keeps the shorter side >= ``shorter_side``
    (modes Pillow cannot reduce, e.g. palettes and 16-bit, come back as they are)."""
    factor = min(image.size) // max(shorter_side, MIN_SIDE)
    if factor < 2:
        return image
    try:
        return image.reduce(factor)
    except ValueError:
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Return a new 8-bit RGB image: transparency composited onto white, deep pixels rescaled."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return _grey_to_rgb(np.asarray(image, dtype=np.float64) * (255 / 65535))
    if image.mode in ("I", "F"):
        return _grey_to_rgb(_stretch(np.asarray(image, dtype=np.float64)))
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError:
        message = f"pixel mode {image.mode} is not supported; convert it to RGB first"
        raise ValueError(message) from None


def _stretch(values: np.ndarray) -> np.ndarray:
    """Map the finite min..max of an int or float image to 0..255 (a constant map becomes black)."""
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros_like(values)
    low, high = values[finite].min(), values[finite].max()
    values = np.where(finite, values, low)
    return (values - low) * (255 / (high - low)) if high > low else np.zeros_like(values)


def _grey_to_rgb(values: np.ndarray) -> Image.Image:
    return Image.fromarray(np.rint(values).clip(0, 255).astype(np.uint8)).convert("RGB")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
