"""Groups: the images of one object or person, kept on one side of every split.

A data set of many views of few objects (turntable photos, several shots of one person) leaks between
training and test whenever a split is made image by image. With groups, every protocol splits by group:

- :class:`Grouping` says how to find an image's group: ``regex`` (the first capture group of a regular
  expression searched in the file name, e.g. ``^(obj\\d+)__``) or ``csv`` (a file of ``file,group``
  rows; a file is an absolute path, ``class/name`` or a bare file name); :meth:`Grouping.bind` reads it
  for the images of one experiment and refuses, in one line, a regex without a capture group or
  matching no file, a CSV naming files that are not there or leaving images without a group;
- :func:`group_folds` (stratified, grouped k-fold cross-validation), :func:`group_split` /
  :func:`grouped_random_splits` (random train/test splits keeping groups whole, about the asked number
  of images per class) and :func:`test_masks` (the test images a shot run may be scored on: none shares
  a group with the run's training images) make the index lists the protocols take.

Without groups, every image is its own group and the protocols keep their image-wise splits (the
published numbers are unchanged).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ..errors import OptionError

GROUPS_HELP = ("Which images show the same object or person, kept on one side of every split: a regular expression "
               "whose first capture group, searched in the file name, names the group (e.g. '^(.+?)_\\d+\\.png$'), "
               "or a CSV file of file,group rows (file: a path, class/name or a file name).")
NO_GROUPS = {"kind": "images", "source": None, "note": "no groups given: every image is its own group"}


class GroupError(OptionError):
    """Groups that cannot be read or that make a split impossible."""


def path_key(path: str | os.PathLike) -> str:
    return os.path.abspath(os.fspath(path))


@dataclass(frozen=True)
class Grouping:
    """How to find each image's group: a regex on its file name, or a CSV file."""

    kind: Literal["regex", "csv"]
    source: str

    @classmethod
    def parse(cls, text: str) -> "Grouping":
        """A ``.csv`` path (or any existing file) is a CSV of file → group; anything else a regex."""
        text = text.strip()
        if not text:
            raise GroupError("--groups is empty: give a regex with a capture group or a CSV file")
        if text.lower().endswith(".csv") or Path(text).is_file():
            if not Path(text).is_file():
                raise GroupError(f"groups CSV {text}: no such file")
            return cls("csv", text)
        try:
            pattern = re.compile(text)
        except re.error as e:
            raise GroupError(f"--groups '{text}' is not a regular expression ({e})") from None
        if pattern.groups < 1:
            raise GroupError(f"--groups '{text}' has no capture group: put the part of the file name that names the "
                             "object in parentheses, e.g. '^(.+?)_[0-9]+'")
        return cls("regex", text)

    def bind(self, paths: Sequence[str | os.PathLike]) -> "Groups":
        """The group of every image of an experiment (all its folders), or one GroupError line."""
        files = [Path(p) for p in paths]
        if not files:
            raise GroupError("no images to read groups for")
        table = self._regex(files) if self.kind == "regex" else self._csv(files)
        return Groups(table, self)

    def _regex(self, paths: list[Path]) -> dict[str, str]:
        pattern = re.compile(self.source)
        found = {}
        missed = []
        for p in paths:
            m = pattern.search(p.name)
            group = m.group(1) if m else None
            if group:
                found[path_key(p)] = group
            else:
                missed.append(p.name)
        if len(missed) == len(paths):
            raise GroupError(f"--groups '{self.source}' matches none of the {len(paths)} image file names "
                             f"(e.g. {missed[0]}); its first capture group must name the object")
        if missed:
            raise GroupError(f"--groups '{self.source}' does not match {len(missed)} of {len(paths)} image file names "
                             f"(e.g. {missed[0]}): every image needs a group")
        return found

    def _csv(self, paths: list[Path]) -> dict[str, str]:
        rows = read_rows(self.source)
        by_abs = {path_key(p): p for p in paths}
        by_tail: dict[str, list[Path]] = {}
        by_name: dict[str, list[Path]] = {}
        for p in paths:
            by_tail.setdefault(f"{p.parent.name}/{p.name}", []).append(p)
            by_name.setdefault(p.name, []).append(p)
        found: dict[str, str] = {}
        missing = []
        for file, group in rows:
            key = file.replace("\\", "/")
            if Path(key).is_absolute():
                hits = [by_abs[path_key(key)]] if path_key(key) in by_abs else []
            elif "/" in key:
                hits = [p for p in by_tail.get("/".join(key.split("/")[-2:]), []) if p.as_posix().endswith(key)]
            else:
                hits = by_name.get(key, [])
            if not hits:
                missing.append(file)
                continue
            if len(hits) > 1:
                raise GroupError(f"groups CSV {self.source}: {file!r} matches {len(hits)} images ({hits[0]}, {hits[1]}); "
                                 "write it as class/name")
            k = path_key(hits[0])
            if found.get(k, group) != group:
                raise GroupError(f"groups CSV {self.source}: {file!r} is given two groups ({found[k]!r}, {group!r})")
            found[k] = group
        if missing:
            raise GroupError(f"groups CSV {self.source} names {len(missing)} file(s) that are not among the "
                             f"{len(paths)} images (e.g. {missing[0]!r})")
        without = [p for p in paths if path_key(p) not in found]
        if without:
            raise GroupError(f"groups CSV {self.source} gives no group for {len(without)} of {len(paths)} images "
                             f"(e.g. {without[0]})")
        return found


def read_rows(path: str) -> list[tuple[str, str]]:
    """(file, group) rows of a CSV; a first row ``file,group`` (or path/image, group/object) is a header."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise GroupError(f"groups CSV {path}: cannot be read ({e})") from None
    if rows and rows[0][0].strip().lower() in ("file", "path", "image", "filename") and len(rows[0]) >= 2:
        rows = rows[1:]
    bad = next((i for i, r in enumerate(rows) if len(r) < 2 or not r[0].strip() or not r[1].strip()), None)
    if bad is not None:
        raise GroupError(f"groups CSV {path}: row {bad + 1} is not 'file,group' ({','.join(rows[bad])!r})")
    if not rows:
        raise GroupError(f"groups CSV {path} holds no file,group rows")
    return [(r[0].strip(), r[1].strip()) for r in rows]


class Groups:
    """Every image's group (by absolute path), read once for the images of one experiment."""

    def __init__(self, table: dict[str, str], grouping: Grouping | None = None) -> None:
        self.table = table
        self.grouping = grouping

    def of(self, paths: Sequence[str | os.PathLike]) -> np.ndarray:
        """The groups of these images, in order (an array of str)."""
        out = []
        for p in paths:
            group = self.table.get(path_key(p))
            if group is None:
                raise GroupError(f"{p} has no group (the groups were read for other images)")
            out.append(group)
        return np.array(out, dtype=object)

    def record(self, **parts: Sequence[str | os.PathLike]) -> dict:
        """What a results file says about the groups: how they were read, how many per part, how many
        parts share (the test images of a shared group are not new objects)."""
        per = {name: set(self.of(paths)) for name, paths in parts.items()}
        out = {"kind": self.grouping.kind if self.grouping else "given",
               "source": self.grouping.source if self.grouping else None,
               "groups": len(set(self.table.values()))}
        out |= {f"{name}_groups": len(g) for name, g in per.items()}
        if "train" in per and "test" in per:
            out["shared_train_test"] = len(per["train"] & per["test"])
        return out


def record(groups: Groups | None, **parts: Sequence[str | os.PathLike]) -> dict:
    """The ``groups`` entry of a results file (no groups: every image is its own)."""
    return groups.record(**parts) if groups is not None else dict(NO_GROUPS)


# --- grouped index lists ---------------------------------------------------------------------------
def _codes(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group codes per image, each group's size and its dominant (most frequent) class."""
    names, codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    classes = np.unique(labels)
    table = np.zeros((len(names), len(classes)), np.int64)
    np.add.at(table, (codes, np.searchsorted(classes, labels)), 1)
    return codes, table.sum(axis=1), classes[table.argmax(axis=1)]


def require_two_groups(labels: np.ndarray, groups: np.ndarray, what: str, classes: Sequence[str] | None = None) -> None:
    """Every class must have two groups at least, one for each side of a split."""
    labels, groups = np.asarray(labels), np.asarray(groups, dtype=str)
    for c in np.unique(labels):
        found = np.unique(groups[labels == c])
        if len(found) < 2:
            name = classes[int(c)] if classes is not None else str(c)
            raise GroupError(f"class {name} has a single group ({found[0]}): {what} needs two, one on each side")


def group_folds(labels: np.ndarray, groups: np.ndarray, folds: int, seed: int,
                classes: Sequence[str] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (fit, validation) index pairs keeping each group in one fold, seeded: groups
    in a seeded order, largest first, each to the fold holding the fewest images of its class (so a
    class with two groups or more is in every fit part). k is at most the number of groups."""
    labels = np.asarray(labels)
    require_two_groups(labels, groups, "cross-validation", classes)
    codes, sizes, dominant = _codes(labels, groups)
    k = min(folds, len(sizes))
    order = np.random.default_rng(seed).permutation(len(sizes))
    order = order[np.argsort(-sizes[order], kind="stable")]
    per_class = np.zeros((k, int(labels.max()) + 1), np.int64)
    total = np.zeros(k, np.int64)
    fold_of = np.empty(len(sizes), np.int64)
    for g in order:
        f = int(np.lexsort((np.arange(k), total, per_class[:, dominant[g]]))[0])
        fold_of[g] = f
        per_class[f, dominant[g]] += sizes[g]
        total[f] += sizes[g]
    everything = np.arange(len(labels))
    pairs = [(everything[fold_of[codes] != f], everything[fold_of[codes] == f]) for f in range(k)]
    for fit, _ in pairs:
        if len(np.unique(labels[fit])) < len(np.unique(labels)):
            raise GroupError("grouped cross-validation left a class out of a training fold (its groups span classes); "
                             "give each class more groups")
    return pairs


def group_split(labels: np.ndarray, groups: np.ndarray, train_per_class: Sequence[int], rng: np.random.Generator,
                classes: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One random (train, test) split keeping groups whole: groups in random order join the training
    side while their class has fewer than ``train_per_class[c]`` images there (so it may overshoot by
    one group), except a class's last group when none of it is tested yet; the rest are tested. Every
    class ends up on both sides (``train_per_class`` is indexed like the sorted class labels)."""
    labels = np.asarray(labels)
    require_two_groups(labels, groups, "a train/test split", classes)
    codes, sizes, dominant = _codes(labels, groups)
    present = np.unique(labels)
    target = {int(c): int(train_per_class[k]) for k, c in enumerate(present)}
    left = {int(c): int(np.sum(dominant == c)) for c in present}
    have = dict.fromkeys(target, 0)
    tested = dict.fromkeys(target, False)
    train_group = np.zeros(len(sizes), bool)
    for g in rng.permutation(len(sizes)):
        c = int(dominant[g])
        left[c] -= 1
        if have[c] < target[c] and (left[c] > 0 or tested[c]):
            train_group[g] = True
            have[c] += int(sizes[g])
        else:
            tested[c] = True
    train = train_group[codes]
    for c in present:
        if train[labels == c].all() or not train[labels == c].any():
            name = classes[int(c)] if classes is not None else str(c)
            raise GroupError(f"class {name}: its groups span other classes so that a split leaves it on one side "
                             "only; give each class groups of its own")
    everything = np.arange(len(labels))
    return everything[train], everything[~train]


def fraction_targets(labels: np.ndarray, fraction: float) -> list[int]:
    """Per class: ``fraction`` of its images (at least one)."""
    return [max(1, int(round(fraction * np.sum(labels == c)))) for c in np.unique(labels)]


def grouped_random_splits(labels: np.ndarray, groups: np.ndarray, train_per_class: int, runs: int, seed: int,
                          classes: Sequence[str] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``runs`` seeded random grouped splits with about ``train_per_class`` training images per class."""
    rng = np.random.default_rng(seed)
    n = len(np.unique(labels))
    return [group_split(labels, groups, [train_per_class] * n, rng, classes) for _ in range(runs)]


def test_masks(draws: Sequence[np.ndarray], train_groups: np.ndarray, test_groups: np.ndarray, test_labels: np.ndarray,
               classes: Sequence[str] | None = None) -> list[np.ndarray]:
    """For each draw (training indices): the test images sharing no group with it (what the run is scored
    on). A class left with no test image is an error: its groups are all in the training draw."""
    train_groups, test_groups = np.asarray(train_groups, dtype=str), np.asarray(test_groups, dtype=str)
    masks = []
    for d in draws:
        mask = ~np.isin(test_groups, train_groups[np.asarray(d)])
        for c in np.unique(test_labels):
            if not mask[test_labels == c].any():
                name = classes[int(c)] if classes is not None else str(c)
                raise GroupError(f"class {name}: every test image shares a group with the training images drawn "
                                 f"({', '.join(sorted(set(train_groups[np.asarray(d)])))}); it needs test images of "
                                 "other groups")
        masks.append(mask)
    return masks


class SharedGroupsWarning(UserWarning):
    """TRAIN and TEST hold images of the same groups: the test accuracy is not on new objects."""


def warn_shared(groups: Groups, train: Sequence[str | os.PathLike], test: Sequence[str | os.PathLike]) -> int:
    """One warning line when given TRAIN and TEST folders share groups; returns how many they share."""
    import warnings

    shared = set(groups.of(train)) & set(groups.of(test))
    if shared:
        example = ", ".join(sorted(shared)[:3])
        warnings.warn(f"{len(shared)} group(s) have images in both TRAIN and TEST (e.g. {example}): the test accuracy "
                      "is partly on objects seen in training; split by group (e.g. `recollect naming pipeline` on one "
                      "folder, or `naming splits --groups`)", SharedGroupsWarning, stacklevel=3)
    return len(shared)
