"""recollection: test the backpropagation-based recollection hypothesis.

    import recollection as rc

    rc.recollect("seven.png", model="digits").plot()     # one call: preprocess, recall, score, plot
    rc.compare("seven.png", a={"source": "class"}, b={"source": "zero"}).plot()

    info = rc.load_model("alexnet")                     # rc.list_models() names the registered models
    rec = rc.Recollector(info.model, classes=info.classes, normalize="rescale_std")
    result = rec(info.preprocess("kitten.jpg"), rc.Source.parse("class:tabby cat"))

The names below are imported on first use, so ``import recollection`` (and the command line) stays
fast; ``rc.naming`` is the spiking half (``rc.naming.load()``, ``NameNeurons``, ``SpikeSVM``) and
``rc.widgets.explore(image)`` the notebook explorer (needs ``pip install 'recollection[notebook]'``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"  # a plain literal: pyproject.toml reads it without importing the package

_PUBLIC = {  # name -> the module that defines it
    "Recollector": "recollection.retrace.engine",
    "Recollection": "recollection.retrace.engine",
    "Source": "recollection.retrace.options",
    "RetraceOptions": "recollection.retrace.options",
    "load_model": "recollection.cnn.models",
    "LoadedModel": "recollection.cnn.models",
    "list_models": "recollection.cnn.registry",
    "get_model": "recollection.cnn.registry",
    "register_model": "recollection.cnn.registry",
    "recollect": "recollection.api",
    "compare": "recollection.api",
    "RecollectionResult": "recollection.api",
    "Comparison": "recollection.api",
}
_SUBMODULES = ("naming", "widgets")  # rc.naming, rc.widgets: imported on first use
__all__ = ["recollect", "compare", "RecollectionResult", "Comparison", "Recollector", "Recollection", "Source",
           "RetraceOptions", "load_model", "LoadedModel", "list_models", "get_model", "register_model", "naming",
           "widgets", "__version__"]

# recollect, compare, naming and widgets are left out of the block below: api.py reaches pipeline.py, which
# imports this package (its __version__), and the structure check counts that as a cycle.
if TYPE_CHECKING:  # for editors and type checkers; at run time __getattr__ imports on demand
    from .cnn.models import LoadedModel, load_model
    from .cnn.registry import get_model, list_models, register_model
    from .retrace.engine import Recollection, Recollector
    from .retrace.options import RetraceOptions, Source


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"recollection.{name}")
    if name not in _PUBLIC:
        raise AttributeError(f"module 'recollection' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
