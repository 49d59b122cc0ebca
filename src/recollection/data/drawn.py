"""Digits the project draws itself: one pen stroke path per digit, rendered MNIST-style (offline)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0.0, turns: float = 1.0, n: int = 40):
    angles = start + np.linspace(0, 2 * np.pi * turns, n)
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]


# strokes in a unit box (x right, y down); each digit is a list of polylines
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_ellipse(0.5, 0.5, 0.3, 0.44)],
    1: [[(0.58, 0.05), (0.52, 0.5), (0.46, 0.95)]],
    2: [_ellipse(0.5, 0.3, 0.3, 0.24, start=np.pi * 1.0, turns=0.62, n=20) + [(0.22, 0.93), (0.85, 0.93)]],
    3: [_ellipse(0.48, 0.28, 0.28, 0.2, start=-np.pi * 0.9, turns=0.7, n=20)
        + _ellipse(0.48, 0.7, 0.32, 0.24, start=-np.pi * 0.5, turns=0.75, n=20)],
    4: [[(0.62, 0.95), (0.62, 0.05), (0.14, 0.66), (0.86, 0.66)]],
    5: [[(0.8, 0.07), (0.32, 0.07), (0.26, 0.45)] + _ellipse(0.48, 0.66, 0.3, 0.26, start=-np.pi * 0.75, turns=0.85, n=24)],
    6: [[(0.7, 0.05), (0.42, 0.3)] + _ellipse(0.5, 0.68, 0.27, 0.25, start=np.pi * 1.0, turns=1.0, n=30)],
    7: [[(0.14, 0.08), (0.86, 0.08), (0.42, 0.95)]],
    8: [_ellipse(0.5, 0.27, 0.22, 0.21), _ellipse(0.5, 0.71, 0.28, 0.23)],
    9: [_ellipse(0.48, 0.3, 0.26, 0.23) + [(0.74, 0.3), (0.64, 0.95)]],
}


def drawn_digit(digit: int, size: int = 28, box: int = 20, pen: float = 0.11, scale: int = 8) -> np.ndarray:
    """One digit drawn with a round pen, fitted into ``box``² and centred by mass in ``size``² (as MNIST)."""
    canvas = box * scale
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    width = max(1, int(pen * canvas))
    margin = width / 2
    for line in STROKES[digit]:
        points = [(margin + x * (canvas - 2 * margin), margin + y * (canvas - 2 * margin)) for x, y in line]
        draw.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - margin, y - margin, x + margin, y + margin), fill=255)
    small = np.asarray(image.resize((box, box), Image.Resampling.LANCZOS), dtype=np.float64)
    out = np.zeros((size, size))
    offset = (size - box) // 2
    out[offset:offset + box, offset:offset + box] = small
    cy, cx = ndimage.center_of_mass(out)
    out = ndimage.shift(out, (size / 2 - 0.5 - cy, size / 2 - 0.5 - cx), order=1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def drawn_digits(size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """The ten digits 0–9, drawn (uint8 images and their labels)."""
    return np.stack([drawn_digit(d, size) for d in range(10)]), np.arange(10)
