"""The engines a study can name: the built-in ones (imported here, so they register) and any other
module's that used :func:`~recollection.experiments.schema.register_engine`."""

from __future__ import annotations

from . import attend_engine, cnn_engine, naming_engine  # noqa: F401  (the built-in engines register on import)
from .schema import Engine, StudyError, registered_engines

__all__ = ["Engine", "engines", "get_engine"]


def engines() -> dict[str, Engine]:
    return registered_engines()


def get_engine(name: str, where: str = "") -> Engine:
    known = engines()
    if name not in known:
        raise StudyError(f"{where}: [study] engine: unknown engine {name!r}; expected one of {', '.join(known)}")
    return known[name]
