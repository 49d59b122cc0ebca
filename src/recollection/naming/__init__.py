"""Name neurons on top of the spiking network, and the SVM they are compared with.

``rc.naming.load()`` (``api.py``) gives name neurons over a published network in one call, ready to
name images. ``presets`` (the published settings), ``protocols`` (the experiments) and ``sources``
(feature sets) are the modules the front ends use; the names below load on first use, so that
reading a preset stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Naming, NamingModel, load
    from .neurons import NameNeurons
    from .svm import SpikeSVM

_PUBLIC = {"load": ".api", "NamingModel": ".api", "Naming": ".api", "NameNeurons": ".neurons", "SpikeSVM": ".svm"}
__all__ = ["load", "NamingModel", "Naming", "NameNeurons", "SpikeSVM"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name], __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
