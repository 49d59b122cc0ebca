"""rc.widgets.explore without a browser: the controls come from the option schema, and a change re-renders."""

import sys

import pytest

import recollection as rc
from recollection.api import api_options

ipywidgets = pytest.importorskip("ipywidgets", reason="the [notebook] extra (ipywidgets) is not installed")


@pytest.fixture(scope="module")
def digits():
    from recollection.data.drawn import drawn_digits

    return drawn_digits()[0]


def test_controls_are_built_from_the_option_schema(digits):
    explorer = rc.widgets.explore(digits[:2], normalize="none")
    schema = api_options()
    assert list(explorer.controls) == list(schema)
    for name, param in schema.items():
        widget = explorer.controls[name]
        assert widget.tooltip == param.help
        if param.choices:
            assert list(widget.options) == list(param.choices)
    assert explorer.controls["normalize"].value == "none"  # the given start value
    assert explorer.controls["unpool"].value == schema["unpool"].default
    assert "layer:1" in explorer.controls["source"].options and "zero" in explorer.controls["source"].options
    assert explorer.renders == 1 and explorer.picture.value[:4] == b"\x89PNG"
    assert "predicted" in explorer.status.value


def test_a_change_re_renders_with_the_new_option(digits):
    explorer = rc.widgets.explore(digits[3])
    first = explorer.picture.value
    assert explorer.result.config["unpool"] == "switches"
    explorer.controls["unpool"].value = "distribute"
    assert explorer.renders == 2
    assert explorer.result.config["unpool"] == "distribute"
    assert explorer.picture.value != first
    explorer.controls["wta"].value = True
    assert explorer.renders == 3 and explorer.result.config["wta"] is True


def test_a_bad_option_is_one_red_line_and_keeps_the_last_picture(digits):
    explorer = rc.widgets.explore(digits[3])
    picture = explorer.picture.value
    explorer.controls["source"].value = "layer:99"
    assert "color:#b00020" in explorer.status.value and "layer" in explorer.status.value
    assert explorer.picture.value == picture and explorer.renders == 1
    explorer.controls["source"].value = "zero"
    assert explorer.renders == 2 and explorer.result.config["source"] == "zero"


def test_the_explorer_displays_as_its_widget(digits):
    bundle = rc.widgets.explore(digits[3])._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_without_ipywidgets_the_error_is_one_line(monkeypatch, digits):
    from recollection.errors import RecollectionError

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails as if not installed
    with pytest.raises(RecollectionError, match=r"needs ipywidgets: pip install 'recollection\[notebook\]'") as e:
        rc.widgets.explore(digits[3])
    assert isinstance(e.value, ImportError) and "\n" not in str(e.value)
