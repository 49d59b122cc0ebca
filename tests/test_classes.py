import pytest

from recollection.cnn.classes import imagenet_classes, resolve_class
from recollection.errors import OptionError


@pytest.fixture(scope="module")
def classes() -> list[str]:
    return imagenet_classes()


def test_thousand_names_in_torchvision_order(classes):
    assert len(classes) == 1000
    assert classes[0] == "tench"
    assert classes[281] == "tabby"
    assert classes[282] == "tiger cat"


def test_returns_a_copy_so_callers_cannot_corrupt_the_cache(classes):
    imagenet_classes()[281] = "dog"
    assert imagenet_classes()[281] == "tabby"


@pytest.mark.parametrize("query", ["tabby", "Tabby", "  'TABBY' ", '"tabby cat"', "tabby cat", "281", 281, " 281 "])
def test_resolves_tabby(classes, query):
    assert resolve_class(query, classes) == 281


@pytest.mark.parametrize(("query", "index"), [("TIGER CAT", 282), ("persian CAT", 283), ("Jack-O'-Lantern", 607)])
def test_exact_names_in_other_casing(classes, query, index):
    assert resolve_class(query, classes) == index


def test_cat_alone_is_not_a_class_and_names_the_cats(classes):
    with pytest.raises(OptionError, match="unknown class 'cat'") as info:
        resolve_class("cat", classes)
    assert "'tiger cat'" in str(info.value)
    assert "'Persian cat'" in str(info.value)


def test_typo_is_reported_with_close_matches(classes):
    with pytest.raises(OptionError, match=r"unknown class 'tabby catt'; closest: 'tabby'"):
        resolve_class("tabby catt", classes)


@pytest.mark.parametrize(
    ("query", "suggested"), [("coated", "'flat-coated retriever'"), ("retriev", "'golden retriever'")]
)
def test_suggests_classes_containing_the_query(classes, query, suggested):
    with pytest.raises(OptionError, match=suggested):
        resolve_class(query, classes)


def test_no_suggestion_still_explains(classes):
    with pytest.raises(OptionError, match=r"unknown class 'xyzzy'; give a class name or an index 0\.\.999"):
        resolve_class("xyzzy", classes)


@pytest.mark.parametrize("query", ["1000", "-1", 1000, -1])
def test_index_out_of_range(classes, query):
    with pytest.raises(OptionError, match=r"out of range 0\.\.999"):
        resolve_class(query, classes)


def test_same_name_twice_is_ambiguous_and_lists_indices(classes):
    with pytest.raises(OptionError, match="ambiguous") as info:
        resolve_class("cardigan", classes)
    assert "(264)" in str(info.value) and "(474)" in str(info.value)


def test_empty_name_is_rejected(classes):
    with pytest.raises(OptionError, match="empty"):
        resolve_class("  ", classes)
