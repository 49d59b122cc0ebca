"""Pictures for the page: tensors and maps as PNG data URIs, thumbnails of backward maps."""

from __future__ import annotations

import base64

from ..io import png_bytes
from ..pictures import map_picture, tensor_picture  # one definition, shared with the Python API's figures

__all__ = ["png_bytes", "data_uri", "tensor_picture", "map_picture", "figure_uri"]


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def figure_uri(fig, dpi: int = 90) -> str:
    """A matplotlib figure as a PNG data URI."""
    from ..io import figure_png

    return data_uri(figure_png(fig, dpi))
