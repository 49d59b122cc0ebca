"""ImageNet class names, and turning a user's class name or index into an index."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from importlib import resources
from typing import Sequence

from ..errors import OptionError

_MAX_SUGGESTIONS = 5


@lru_cache(maxsize=1)
def _read_classes() -> tuple[str, ...]:
    text = resources.files(__package__).joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def imagenet_classes() -> list[str]:
    """torchvision's 1000 ImageNet category names in index order (a fresh list; the file is read once)."""
    return list(_read_classes())


def resolve_class(name_or_index: str | int, classes: Sequence[str]) -> int:
    """Index of a class given as an index, a decimal string or a (forgivingly matched) name."""
    if isinstance(name_or_index, int):
        return _check_index(name_or_index, classes)
    query = _normalize(name_or_index)
    if not query:
        raise OptionError(f"empty class name; give a class name or an index 0..{len(classes) - 1}")
    if re.fullmatch(r"[+-]?\d+", query):
        return _check_index(int(query), classes)
    exact = [i for i, name in enumerate(classes) if name.lower() == query]
    if not exact:
        exact = _word_subset_matches(query, classes)
    if len(exact) == 1:
        return exact[0]
    if exact:
        listed = ", ".join(f"{classes[i]!r} ({i})" for i in exact)
        raise OptionError(f"class {name_or_index.strip()!r} is ambiguous: {listed}; give the index instead")
    raise OptionError(_unknown_message(name_or_index.strip(), query, classes))


def _normalize(text: str) -> str:
    return " ".join(text.strip().strip("'\"").lower().split())


def _check_index(index: int, classes: Sequence[str]) -> int:
    if not 0 <= index < len(classes):
        raise OptionError(f"class index {index} is out of range 0..{len(classes) - 1}")
    return index


def _word_subset_matches(query: str, classes: Sequence[str]) -> list[int]:
    """Classes all of whose words the query contains: 'tabby cat' finds 'tabby', 'cat' finds nothing.

    Every query word must occur in some class name, so a typo ('tabby catt') is reported, not guessed past.
    """
    words = set(query.split())
    names = [set(name.lower().split()) for name in classes]
    if not words <= set().union(*names):
        return []
    return [i for i, name_words in enumerate(names) if name_words <= words]


def _unknown_message(shown: str, query: str, classes: Sequence[str]) -> str:
    suggestions = _suggestions(query, classes)
    if not suggestions:
        return f"unknown class {shown!r}; give a class name or an index 0..{len(classes) - 1}"
    return f"unknown class {shown!r}; closest: " + ", ".join(repr(s) for s in suggestions)


def _suggestions(query: str, classes: Sequence[str]) -> list[str]:
    """Classes sharing most words with the query ('cat' -> 'tiger cat'), then containing it, then difflib's."""
    lowered: dict[str, str] = {}
    for name in classes:
        lowered.setdefault(name.lower(), name)
    words = set(query.split())
    shared = {name: len(words & set(name.split())) for name in lowered}
    by_word = sorted((name for name in lowered if shared[name]), key=lambda name: (-shared[name], len(name)))
    containing = [name for name in lowered if query in name]
    close = difflib.get_close_matches(query, list(lowered), n=_MAX_SUGGESTIONS)
    found = dict.fromkeys(by_word[:_MAX_SUGGESTIONS] + containing[:_MAX_SUGGESTIONS] + close)
    return [lowered[name] for name in list(found)[:_MAX_SUGGESTIONS]]
