"""Score a reconstruction against its original, invariant to brightness offset and contrast."""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.filters import sobel
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

PSNR_CAP = 100.0  # dB; stands for an exact match, whose PSNR is infinite and not valid JSON
_SSIM_WIN_SIZE = 7  # skimage's default window


def to_grey(image: Any) -> np.ndarray:
    """Return a CHW (C = 1 or 3) or HW tensor/array as an HW float64 map, averaging channels."""
    array = _as_float64(image)
    if array.ndim == 3 and array.shape[0] in (1, 3):
        array = array.mean(axis=0)
    elif array.ndim != 2:
        raise ValueError(
            f"expected an HW or CHW image with 1 or 3 channels, got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError("image contains NaN or infinite values")
    return array


def standardise(x: np.ndarray) -> np.ndarray:
    """Z-score ``x``; a constant map gives zeros rather than NaN."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or np.ptp(x) == 0:
        return np.zeros_like(x)
    return (x - x.mean()) / x.std()


def pearson(a: Any, b: Any) -> float:
    """Pearson r of two equally shaped arrays or tensors, flattened, in float64; 0.0 if either is
    constant. The one correlation of the toolkit (images, backward maps, recalled DoG maps)."""
    x, y = _as_float64(a), _as_float64(b)
    if x.shape != y.shape:
        raise ValueError(f"arrays differ in size: {x.shape} vs {y.shape}")
    if x.size == 0 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    x, y = x.ravel() - x.mean(), y.ravel() - y.mean()
    denominator = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(np.clip(x @ y / denominator, -1.0, 1.0)) if denominator > 0 else 0.0


def image_pearson(a: Any, b: Any) -> float:
    """Pearson r of two images' grey maps (channels averaged), as the reconstruction scores compare them."""
    return pearson(to_grey(a), to_grey(b))


def edge_map(image: Any) -> np.ndarray:
    """Sobel gradient magnitude of the grey image."""
    return sobel(to_grey(image))


def score_reconstruction(original: Any, recalled: Any) -> dict[str, float]:
    """Compare ``recalled`` with ``original`` after standardising both grey maps.

    ``recalled`` is resized to the original's H×W if needed. Returns plain floats, never NaN:
    ``pearson``; ``ssim`` and ``psnr`` with data_range = max − min of the standardised original
    (1.0 if the original is constant); ``psnr`` is capped at 100.0 dB, which an exact match
    (infinite PSNR) reports, so the result stays valid JSON; ``edge_pearson`` is Pearson r
    between the recalled grey map and the Sobel edge map of the original.
    Correlations involving a constant map are 0.0.
    """
    original_grey = to_grey(original)
    recalled_grey = _resized(to_grey(recalled), original_grey.shape)
    z_original, z_recalled = standardise(original_grey), standardise(recalled_grey)
    data_range = float(np.ptp(z_original)) or 1.0
    return {
        "pearson": _correlate(z_original, z_recalled),
        "ssim": _ssim(z_original, z_recalled, data_range),
        "psnr": _psnr(z_original, z_recalled, data_range),
        "edge_pearson": _correlate(standardise(sobel(original_grey)), z_recalled),
    }


def specificity(recalled: Any, control: Any) -> float:
    """Pearson r between the reconstruction from the real source and from a control.

    Near 1 means the source adds nothing: the control reconstructs the same image.
    """
    return image_pearson(recalled, control)


def _as_float64(image: Any) -> np.ndarray:
    if hasattr(image, "detach"):  # a torch tensor; torch itself is not needed here
        image = image.detach().cpu().numpy()
    return np.asarray(image, dtype=np.float64)


def _correlate(za: np.ndarray, zb: np.ndarray) -> float:
    """Pearson r of two already standardised maps (zero for a constant one)."""
    if za.shape != zb.shape:
        raise ValueError(f"images differ in size: {za.shape} vs {zb.shape}")
    return float(np.clip(np.mean(za * zb), -1.0, 1.0))


def _resized(grey: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if grey.shape == shape:
        return grey
    return resize(grey, shape, anti_aliasing=True, preserve_range=True)


def _ssim(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """SSIM with the window shrunk (odd, >= 3) for images under 7 px on a side."""
    win_size = min(_SSIM_WIN_SIZE, *a.shape)
    win_size -= 1 - win_size % 2
    if win_size < 3:
        height, width = a.shape
        raise ValueError(f"{width}×{height} pixels are too small to score (3×3 at least)")
    return float(structural_similarity(a, b, data_range=data_range, win_size=win_size))


def _psnr(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    if np.array_equal(a, b):
        return PSNR_CAP
    return float(min(peak_signal_noise_ratio(a, b, data_range=data_range), PSNR_CAP))
