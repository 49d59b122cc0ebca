"""What a study can run: an engine declares its data keys, its parameters and its metrics, and runs a
*unit* of points that share an expensive intermediate (a CNN trace, a test set's name-neuron drive).

Engines register themselves with :func:`register_engine`; ``engines.py`` imports the built-in ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

from ..errors import RecollectionError
from ..schema import Param, type_name

__all__ = ["Engine", "Param", "StudyError", "register_engine", "registered_engines", "type_name"]


class StudyError(RecollectionError):
    """An experiment file is malformed: names the file, the key and what was expected."""


DataSpec = dict[str, Param]


class Engine:
    """Subclasses fill in the schema and ``run_unit``; the runner does the rest."""

    name: str = ""
    data: DataSpec = {}
    params: dict[str, Param] = {}
    metrics: tuple[str, ...] = ()
    metric_ranges: dict[str, tuple[float, float]] = {}  # e.g. accuracies (0, 1): intervals are clipped to them
    unit_size: int = 64  # at most this many points per dispatched unit
    split_groups: bool = True  # may a unit be split to feed idle workers? (False: results depend on the batch)

    def check_data(self, data: dict, where: str) -> dict:
        out = {}
        for key, value in data.items():
            spec = self.data.get(key)
            if spec is None:
                raise StudyError(f"{where}: [data] {key}: unknown key of engine {self.name}; expected one of "
                                 f"{', '.join(self.data)}")
            out[key] = spec.check(value, f"{where}: [data] {key}", StudyError)
        return {k: out.get(k, spec.default) for k, spec in self.data.items()}

    def axes(self, data: dict) -> dict[str, list]:
        """Grid axes the data itself defines (e.g. one point per image)."""
        return {}

    def complete(self, params: dict) -> dict:
        """Canonical form of a point's parameters (e.g. drop what cannot matter)."""
        return params

    def check_point(self, data: dict, params: dict) -> str | None:
        """Why this point cannot run on this data (a configuration error that a rerun would not fix),
        or None. Called for every point before the run starts, so keep it cheap (cache what it loads)."""
        return None

    def unit_key(self, params: dict) -> tuple:
        """Points with equal keys are run together and share their intermediates."""
        return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in ("repeat", "seed") and not k.startswith("_")))

    def prepare(self, data: dict, points: list[dict], progress: Callable[[int], None] | None = None) -> None:
        """Compute shared, cacheable intermediates once, before the points are dispatched."""

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def finalize(self, data: dict, points: list[dict], artifacts: Path) -> None:
        """Extras for the report once the points are done (e.g. the originals' thumbnails)."""


E = TypeVar("E", bound="type[Engine]")
_REGISTRY: dict[str, Engine] = {}


def register_engine(cls: E) -> E:
    """Class decorator: make an engine known to studies by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls()
    return cls


def registered_engines() -> dict[str, Engine]:
    return dict(_REGISTRY)
