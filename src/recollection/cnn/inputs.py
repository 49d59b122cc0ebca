"""Any picture a notebook holds as the pixels a model takes: a file (or a folder of them), a PIL image,
a NumPy array or a tensor, one or a batch, resized and centre-cropped the model's way, in [0, 1].

8-bit pictures (files, PIL images, ``uint8`` arrays) go through Pillow exactly as files always did,
so a digit given as a file, a PIL image or a ``uint8`` array gives the same pixels. Float pictures
must already be in [0, 1] and are resized in floating point (no rounding to 8 bits). Anything else is
refused with one line saying what was expected, never guessed at:

- NumPy arrays are channels-last, as Pillow and matplotlib hold pictures: H×W, H×W×C (C = 1, 3 or 4),
  N×H×W (N grey images, e.g. MNIST's arrays; the last axis is not 1, 3 or 4) or N×H×W×C;
- tensors are channels-first, as PyTorch holds them: H×W, C×H×W (C = 1 or 3) or N×C×H×W.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import ImageError, OptionError

if TYPE_CHECKING:
    from numpy.typing import NDArray

ImageLike = Union[str, "os.PathLike[str]", Image.Image, np.ndarray, Tensor]
Images = Union[ImageLike, Sequence[ImageLike]]
Picture = Union[Image.Image, "NDArray[np.float32]"]  # an 8-bit PIL image, or a float C×H×W array in [0, 1]
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, what Pillow's convert("L") uses
CHANNELS_LAST = (1, 3, 4)  # C of an H×W×C array (4: the alpha channel is dropped)
CHANNELS_FIRST = (1, 3)


def fit_geometry(width: int, height: int, size: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The resized (width, height) whose shorter side is ``size``, and the centred size×size crop box."""
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return new, (left, top, left + size, top + size)


def fit_image(image: Image.Image, size: int, grey: bool = False) -> Tensor:
    """Resize the shorter side to ``size``, centre-crop, to a C×H×W tensor in [0, 1]."""
    image = image.convert("L" if grey else "RGB")
    new, box = fit_geometry(*image.size, size)
    image = image.resize(new, Image.Resampling.BILINEAR, reducing_gap=3.0)
    array = np.asarray(image.crop(box), dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def fit_float(chw: np.ndarray, size: int, grey: bool = False) -> Tensor:
    """``fit_image`` for a float C×H×W array in [0, 1]: the same geometry and filter, in float32."""
    chw = chw[:3].astype(np.float32, copy=False)  # an alpha channel is dropped, as convert("RGB") does
    if grey and chw.shape[0] == 3:
        chw = np.tensordot(np.asarray(LUMA, np.float32), chw, axes=1)[None]
    elif not grey and chw.shape[0] == 1:
        chw = np.repeat(chw, 3, axis=0)
    new, box = fit_geometry(chw.shape[2], chw.shape[1], size)
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(plane)).resize(
        new, Image.Resampling.BILINEAR, reducing_gap=3.0).crop(box), dtype=np.float32) for plane in chw]
    return torch.from_numpy(np.clip(np.stack(planes), 0.0, 1.0))


def fit(picture: Picture, size: int, grey: bool = False) -> Tensor:
    """One picture (see :func:`pictures`) as C×size×size pixels in [0, 1]."""
    if isinstance(picture, Image.Image):
        return fit_image(picture, size, grey)
    return fit_float(picture, size, grey)


def is_batch(images: Any) -> bool:
    """Were several images given (a list, a folder, N×… arrays and tensors), rather than one?"""
    if isinstance(images, (list, tuple)):
        return True
    if isinstance(images, (str, os.PathLike)):
        return os.path.isdir(images)
    if isinstance(images, Tensor):
        return images.dim() == 4
    if isinstance(images, np.ndarray):
        return images.ndim == 4 or (images.ndim == 3 and images.shape[-1] not in CHANNELS_LAST)
    return False


def pictures(images: Images, shorter_side: int | None = None) -> tuple[list[Picture], list[str]]:
    """Each image of ``images`` as an 8-bit PIL image or a float C×H×W array, with a name for each
    (the file name, else ``image i``). ``shorter_side`` lets big JPEGs decode at a reduced scale."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise OptionError("no images given (an empty list)")
        out: list[Picture] = []
        names: list[str] = []
        for i, item in enumerate(images):
            if is_batch(item):
                raise OptionError(f"item {i} of the list is itself a batch ({describe(item)}): give a list of "
                                  "single images, or one batch")
            got, got_names = pictures(item, shorter_side)
            out += got
            names += [n if isinstance(item, (str, os.PathLike)) else f"image {i}" for n in got_names]
        return out, names
    if isinstance(images, (str, os.PathLike)):
        return from_path(images, shorter_side)
    if isinstance(images, Image.Image):
        return [images], ["image 0"]
    if isinstance(images, Tensor):
        arrays = tensor_arrays(images)
    elif isinstance(images, np.ndarray):
        arrays = numpy_arrays(images)
    else:
        raise OptionError(f"expected an image: a path, a PIL image, a NumPy array or a tensor (or a list of "
                          f"them); got {type(images).__name__}")
    return [as_picture(a) for a in arrays], [f"image {i}" for i in range(len(arrays))]


def from_path(path: str | os.PathLike, shorter_side: int | None) -> tuple[list[Picture], list[str]]:
    from ..data.images import image_files, load_image

    files = image_files([path])
    if not files:
        raise ImageError(f"{path}: a folder without image files")
    return [load_image(f, shorter_side=shorter_side) for f in files], [str(f) for f in files]


def describe(images: Any) -> str:
    shape = getattr(images, "shape", None)
    return f"{type(images).__name__} of shape {tuple(shape)}" if shape is not None else type(images).__name__


def tensor_arrays(t: Tensor) -> list[np.ndarray]:
    """A tensor as channels-last arrays: H×W, C×H×W or N×C×H×W (C = 1 or 3)."""
    if t.dim() == 2:
        t = t[None]
    if t.dim() == 3:
        t = t[None]
    if t.dim() != 4 or t.shape[1] not in CHANNELS_FIRST:
        raise OptionError(f"a tensor image is C×H×W or N×C×H×W with C = 1 or 3 (channels first); got shape "
                          f"{tuple(t.shape)}" + ("; for N grey images pass N×1×H×W" if t.dim() == 3 else ""))
    t = t.detach().cpu()
    if t.is_floating_point():
        t = t.float()
    return list(t.permute(0, 2, 3, 1).numpy())


def numpy_arrays(a: np.ndarray) -> list[np.ndarray]:
    """A NumPy image as channels-last arrays: H×W, H×W×C, N×H×W or N×H×W×C (C = 1, 3 or 4)."""
    if a.ndim == 2:
        return [a[..., None]]
    if a.ndim == 3 and a.shape[-1] in CHANNELS_LAST:
        return [a]
    if a.ndim == 3:  # N grey images (a channels-first colour image comes as a tensor, or H×W×C)
        return list(a[..., None])
    if a.ndim == 4 and a.shape[-1] in CHANNELS_LAST:
        return list(a)
    hint = "; this looks channels-first: transpose to N×H×W×C, or pass a tensor" if a.ndim == 4 else ""
    raise OptionError(f"a NumPy image is H×W, H×W×C, N×H×W or N×H×W×C with C = 1, 3 or 4; got shape {a.shape}{hint}")


def as_picture(hwc: np.ndarray) -> Picture:
    """One channels-last array: 8-bit values as a PIL image, floats in [0, 1] as a C×H×W float array."""
    if hwc.dtype == np.bool_:
        hwc = hwc.astype(np.float32)
    if np.issubdtype(hwc.dtype, np.integer):
        smallest, largest = (int(hwc.min()), int(hwc.max())) if hwc.size else (0, 0)
        if smallest < 0 or largest > 255:
            raise OptionError(f"integer pixels must be 0–255; got values from {smallest} to {largest}")
        array = hwc.astype(np.uint8)
        return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    if not np.issubdtype(hwc.dtype, np.floating):
        raise OptionError(f"pixels must be integers (0–255) or floats (0–1); got dtype {hwc.dtype}")
    array = hwc.astype(np.float32)
    if not np.isfinite(array).all():
        raise OptionError("the image holds NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < -1e-6 or high > 1 + 1e-6:
        raise OptionError(f"float pixels must be in [0, 1]; got values from {low:.3g} to {high:.3g}. This takes "
                          "raw pixels and normalises them with the model's mean/std; to feed already normalised "
                          "inputs, call Recollector.perceive directly")
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def to_pixels(images: Images, size: int, grey: bool) -> tuple[Tensor, list[str]]:
    """``images`` as N×C×size×size pixels in [0, 1] (C = 1 if ``grey`` else 3), with their names."""
    found, names = pictures(images, shorter_side=size)
    return torch.stack([fit(p, size, grey) for p in found]), names


__all__ = ["ImageLike", "Images", "fit_image", "fit_float", "is_batch", "pictures", "to_pixels"]
