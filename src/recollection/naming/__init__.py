"""Name neurons on top of the spiking network, and the SVM they are compared with.

``presets`` (the published settings), ``protocols`` (the experiments) and ``sources`` (feature sets)
are the modules the front ends use; the estimators load on first use, so that reading a preset stays
cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .neurons import NameNeurons
    from .svm import SpikeSVM

__all__ = ["NameNeurons", "SpikeSVM"]


def __getattr__(name: str) -> type:
    if name == "NameNeurons":
        from .neurons import NameNeurons

        return NameNeurons
    if name == "SpikeSVM":
        from .svm import SpikeSVM

        return SpikeSVM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
