"""One parameter of anything a user sets: its type, default, choices and one-line help.

The recollection options, the sources and the study engines declare their parameters with
:class:`Param`, and every front end (the CLI, studies, the dashboard, the API) derives its own
form from these declarations rather than keeping a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import OptionError

TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}


def type_name(kinds: tuple) -> str:
    return " or ".join(TYPE_NAMES.get(k, getattr(k, "__name__", str(k))) for k in kinds)


@dataclass(frozen=True)
class Param:
    """One parameter: its type (or tuple of types), default, allowed values and help."""

    kind: type | tuple
    default: Any
    choices: tuple = ()
    help: str = ""
    bounds: tuple[float | None, float | None] = (None, None)  # inclusive (low, high) of a number

    @property
    def kinds(self) -> tuple:
        return self.kind if isinstance(self.kind, tuple) else (self.kind,)

    def check(self, value: Any, where: str, error: type[Exception] = OptionError) -> Any:
        """``value`` if it has the right type and is allowed (ints accepted as floats), else ``error``."""
        kinds = self.kinds
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if value is None and self.default is None:
            ok = True
        if not ok:
            raise error(f"{where}: expected {type_name(kinds)}, got {value!r}")
        if self.choices and value not in self.choices:
            raise error(f"{where}: expected one of {', '.join(map(str, self.choices))}; got {value!r}")
        low, high = self.bounds
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                (low is not None and value < low) or (high is not None and value > high)):
            raise error(f"{where}: expected a value in [{low if low is not None else '-inf'}, "
                        f"{high if high is not None else 'inf'}]; got {value!r}")
        return value

    def describe(self) -> dict:
        """A JSON-ready description (for ``/api/options`` and generated docs)."""
        kind = self.kinds[0]
        return {"type": getattr(kind, "__name__", str(kind)), "default": self.default,
                "choices": list(self.choices), "help": self.help, "bounds": list(self.bounds)}
