"""Groups: no object on both sides of any split, fold or shot run; bad group input is one clear line."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recollection.naming.groups import (GroupError, Grouping, group_folds, group_split, grouped_random_splits,
                                        test_masks as shot_masks)
from recollection.naming.selection import cross_validation_folds, validation_split


@st.composite
def group_structures(draw):
    """Labels and groups of a random data set: 2–4 classes, 2–6 groups per class, 1–6 images per group;
    group names may repeat across classes (one object photographed for two classes), images shuffled."""
    classes = draw(st.integers(2, 4))
    labels, groups = [], []
    shared = draw(st.booleans())
    for c in range(classes):
        for g in range(draw(st.integers(2, 6))):
            n = draw(st.integers(1, 6))
            labels += [c] * n
            groups += [f"g{g}" if shared and g == 0 and c < 2 else f"c{c}g{g}"] * n
    order = np.random.default_rng(draw(st.integers(0, 2**16))).permutation(len(labels))
    return np.asarray(labels)[order], np.asarray(groups, dtype=object)[order]


def sides_share_no_group(groups, a, b) -> bool:
    return not set(groups[a]) & set(groups[b])


@settings(max_examples=60, deadline=None)
@given(group_structures(), st.integers(2, 5), st.integers(0, 2**16))
def test_grouped_folds_keep_each_group_in_one_fold(data, folds, seed):
    labels, groups = data
    try:
        pairs = group_folds(labels, groups, folds, seed)
    except GroupError as e:  # only when groups span classes so that a class misses a training fold
        assert "spans classes" in str(e) or "span classes" in str(e)
        return
    held = np.concatenate([val for _, val in pairs])
    assert sorted(held) == list(range(len(labels)))  # every image validated exactly once
    for fit, val in pairs:
        assert sides_share_no_group(groups, fit, val)
        assert set(np.unique(labels[fit])) == set(np.unique(labels))  # every class is learnt in every fold
    assert len(pairs) == min(folds, len(set(groups)))
    # cross_validation_folds with groups is the same thing
    again = cross_validation_folds(labels, folds, seed, groups)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(pairs, again))


@settings(max_examples=60, deadline=None)
@given(group_structures(), st.integers(1, 8), st.integers(0, 2**16))
def test_grouped_splits_never_put_a_group_on_both_sides(data, per_class, seed):
    labels, groups = data
    spanning = any(len(set(labels[groups == g])) > 1 for g in set(groups))
    try:
        splits = grouped_random_splits(labels, groups, per_class, 3, seed)
        fit, val = validation_split(labels, 0.5, seed, groups)
    except GroupError as e:  # only when groups span classes (a class may then be left on one side)
        assert spanning and "one side" in str(e)
        return
    for train, test in splits:
        assert sides_share_no_group(groups, train, test)
        assert sorted(np.concatenate([train, test])) == list(range(len(labels)))
        assert set(labels[train]) == set(labels[test]) == set(labels)
    assert sides_share_no_group(groups, fit, val)


@settings(max_examples=40, deadline=None)
@given(group_structures(), st.integers(0, 2**16))
def test_shot_runs_are_scored_on_test_images_of_other_groups(data, seed):
    labels, groups = data
    rng = np.random.default_rng(seed)
    draws = [np.array([rng.choice(np.flatnonzero(labels == c)) for c in np.unique(labels)]) for _ in range(5)]
    try:
        masks = shot_masks(draws, groups, groups, labels)  # train and test the same images: the worst leak
    except GroupError as e:
        assert "shares a group" in str(e)
        return
    for d, mask in zip(draws, masks):
        assert not set(groups[mask]) & set(groups[d])
        assert not mask[d].any()


def test_a_split_without_groups_is_unchanged():
    """No groups: the image-wise splits of before (the published numbers depend on them)."""
    labels = np.repeat([0, 1], 10)
    fit, val = validation_split(labels, 0.25, 3)
    rng = np.random.default_rng(3)
    expect = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:2] for c in (0, 1)]))
    assert np.array_equal(val, expect)


def test_one_group_per_class_cannot_be_split():
    labels = np.array([0, 0, 0, 1, 1, 1])
    groups = np.array(["a", "a", "a", "b", "b", "c"], dtype=object)
    for call in (lambda: group_folds(labels, groups, 4, 0),
                 lambda: group_split(labels, groups, [1, 1], np.random.default_rng(0), ["cats", "dogs"])):
        with pytest.raises(GroupError, match="single group"):
            call()


def test_group_sources_and_their_errors(tmp_path):
    files = [tmp_path / "cat" / f"tom_{i}.png" for i in range(3)] + [tmp_path / "dog" / f"rex_{i}.png" for i in range(3)]
    groups = Grouping.parse(r"^([a-z]+)_\d").bind(files)
    assert list(groups.of(files)) == ["tom"] * 3 + ["rex"] * 3
    with pytest.raises(GroupError, match="no capture group"):
        Grouping.parse(r"^[a-z]+_\d")
    with pytest.raises(GroupError, match="matches none"):
        Grouping.parse(r"^(obj\d+)__").bind(files)
    with pytest.raises(GroupError, match="does not match 3 of 6"):
        Grouping.parse(r"^(tom)_").bind(files)
    with pytest.raises(GroupError, match="not a regular expression"):
        Grouping.parse("([a-z")
    csv = tmp_path / "groups.csv"
    csv.write_text("file,group\n" + "".join(f"{f.parent.name}/{f.name},{f.stem[:3]}\n" for f in files))
    assert list(Grouping.parse(str(csv)).bind(files).of(files)) == ["tom"] * 3 + ["rex"] * 3
    csv.write_text("".join(f"{f.name},x{i}\n" for i, f in enumerate(files)) + "ghost.png,x9\n")
    with pytest.raises(GroupError, match="names 1 file.*not among"):
        Grouping.parse(str(csv)).bind(files)
    csv.write_text("".join(f"{f.name},x\n" for f in files[:4]))
    with pytest.raises(GroupError, match="no group for 2 of 6"):
        Grouping.parse(str(csv)).bind(files)
    with pytest.raises(GroupError, match="no such file"):
        Grouping.parse(str(tmp_path / "missing.csv"))
