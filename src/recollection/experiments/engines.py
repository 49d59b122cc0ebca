"""What a study can run: an engine declares its data keys, its parameters and its metrics, and runs a
*unit* of points that share an expensive intermediate (a CNN trace, a test set's name-neuron drive)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .study import Param, StudyError

DataSpec = dict[str, Param]


class Engine:
    """Subclasses fill in the schema and ``run_unit``; the runner does the rest."""

    name: str = ""
    data: DataSpec = {}
    params: dict[str, Param] = {}
    metrics: tuple[str, ...] = ()
    unit_size: int = 64  # at most this many points per dispatched unit
    split_groups: bool = True  # may a unit be split to feed idle workers? (False: results depend on the batch)

    def check_data(self, data: dict, where: str) -> dict:
        out = {}
        for key, value in data.items():
            spec = self.data.get(key)
            if spec is None:
                raise StudyError(f"{where}: [data] {key}: unknown key of engine {self.name}; expected one of "
                                 f"{', '.join(self.data)}")
            out[key] = spec.check(value, f"{where}: [data] {key}")
        return {k: out.get(k, spec.default) for k, spec in self.data.items()}

    def axes(self, data: dict) -> dict[str, list]:
        """Grid axes the data itself defines (e.g. one point per image)."""
        return {}

    def complete(self, params: dict) -> dict:
        """Canonical form of a point's parameters (e.g. drop what cannot matter)."""
        return params

    def unit_key(self, params: dict) -> tuple:
        """Points with equal keys are run together and share their intermediates."""
        return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in ("repeat", "seed") and not k.startswith("_")))

    def prepare(self, data: dict, points: list[dict], progress=None) -> None:
        """Compute shared, cacheable intermediates once, before the points are dispatched."""

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def finalize(self, data: dict, points: list[dict], artifacts: Path) -> None:
        """Extras for the report once the points are done (e.g. the originals' thumbnails)."""


def engines() -> dict[str, Engine]:
    from .cnn_engine import CnnRecollect
    from .naming_engine import NamingRecall, NamingShots, NamingSplits, NamingThresholds

    return {e.name: e for e in (CnnRecollect(), NamingShots(), NamingSplits(), NamingThresholds(), NamingRecall())}


def get_engine(name: str, where: str = "") -> Engine:
    known = engines()
    if name not in known:
        raise StudyError(f"{where}: [study] engine: unknown engine {name!r}; expected one of {', '.join(known)}")
    return known[name]
