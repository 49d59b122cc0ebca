"""One option schema, one model registry, one public API: every front end exposes the same options."""

from __future__ import annotations

import csv
import inspect
import json
import subprocess
import sys
from enum import Enum

import pytest
import torch
import typer
from torch import nn
from typer.testing import CliRunner

import recollection as rc
from recollection.cli import app
from recollection.cnn.registry import get_model, list_models, register_model
from recollection.dashboard.app import Dashboard
from recollection.errors import OptionError
from recollection.experiments.engines import get_engine
from recollection.experiments.runner import run_study
from recollection.experiments.study import load_study
from recollection.retrace.normalize import NORMALIZATIONS, VIEWS
from recollection.retrace.options import (NORMALIZE_CHOICES, RECOLLECTION_OPTIONS, RETRACE_OPTIONS, UNPOOL_CHOICES,
                                          VIEW_CHOICES)
from recollection.retrace.steps import UNPOOL_MODES

CLI_ONLY = {"images", "out_dir", "weights", "batch_size", "device", "help"}
STUDY_ONLY = {"image", "repeat"}


def plain(value):
    return value.value if isinstance(value, Enum) else value


def choices_of(param) -> list:
    """A click option's choices (typer builds on click, or on its own copy of it in newer releases)."""
    kind = getattr(param, "type", None) if hasattr(param, "type") else param.type_descriptor
    return [plain(c) for c in getattr(kind, "choices", None) or ()]


def cli_options() -> dict[str, dict]:
    command = typer.main.get_command(app).commands["reconstruct"]
    return {p.name: {"default": plain(p.default), "help": p.help, "choices": choices_of(p),
                     "flags": [*p.opts, *p.secondary_opts]}
            for p in command.params if p.name not in CLI_ONLY}


def study_options() -> dict[str, dict]:
    params = get_engine("cnn.recollect").params
    return {k: {"default": p.default, "help": p.help, "choices": list(p.choices)}
            for k, p in params.items() if k not in STUDY_ONLY}


def dashboard_options() -> dict[str, dict]:
    return json.loads(Dashboard().handle("GET", "/api/options").body)["options"]


def api_options() -> dict[str, dict]:
    """The API's options: Recollector's keywords, Source's top and per_channel, and Recollection.view's name."""
    keywords = inspect.signature(rc.Recollector).parameters
    options = {k: p.default for k, p in keywords.items() if k not in ("model", "classes", "device")}
    options.update({k: p.default for k, p in inspect.signature(rc.Source.parse).parameters.items() if k != "spec"})
    options["view"] = inspect.signature(rc.Recollection.view).parameters["name"].default
    options["source"] = str(rc.Source())
    return options


def test_cli_study_dashboard_and_api_expose_the_same_options_defaults_and_choices():
    cli, study, page, api = cli_options(), study_options(), dashboard_options(), api_options()
    names = set(RECOLLECTION_OPTIONS) | {"model", "random_init"}
    assert set(cli) == set(study) == set(page) == names
    assert set(api) == set(RECOLLECTION_OPTIONS)  # the model is load_model's argument in the API
    assert {"rectify_input", "normalize", "unpool", "view", "top", "per_channel", "seed"} <= set(api)
    for name in RECOLLECTION_OPTIONS:
        assert cli[name]["default"] == study[name]["default"] == page[name]["default"] == api[name], name
        assert cli[name]["choices"] == study[name]["choices"] == page[name]["choices"], name
        assert cli[name]["help"] == study[name]["help"] == page[name]["help"] != "", name
    assert cli["model"]["choices"] == study["model"]["choices"] == page["model"]["choices"] == list_models()
    assert "none" in cli["normalize"]["choices"] and "inverse-transform" in page["view"]["choices"]
    assert cli["wta"]["flags"] == ["--wta"] and cli["rectify_input"]["flags"] == ["--rectify-input", "--no-rectify-input"]
    # the API's options are RetraceOptions' fields, with the same defaults
    assert {k: api[k] for k in RETRACE_OPTIONS} == {k: p.default for k, p in RETRACE_OPTIONS.items()}
    assert rc.RetraceOptions().to_dict() == {**{k: p.default for k, p in RETRACE_OPTIONS.items()}}


def test_the_implementations_cover_exactly_the_declared_choices():
    assert set(NORMALIZATIONS) | {"none"} == set(NORMALIZE_CHOICES)
    assert set(UNPOOL_MODES) == set(UNPOOL_CHOICES)
    assert set(VIEWS) == set(VIEW_CHOICES)


def test_every_declared_choice_is_accepted_and_others_are_one_line_errors():
    for normalize in NORMALIZE_CHOICES:
        assert rc.RetraceOptions(normalize=normalize).normalize == (None if normalize == "none" else normalize)
    for unpool in UNPOOL_CHOICES:
        assert rc.RetraceOptions(unpool=unpool).unpool == unpool
    for bad, message in [({"normalize": "zscore"}, "normalize: expected one of"), ({"positivise": "false"}, "true or false"),
                         ({"seed": 1.5}, "seed: expected an integer"), ({"unpool": ""}, "unpool: expected one of")]:
        with pytest.raises(OptionError, match=message) as info:
            rc.RetraceOptions(**bad)
        assert "\n" not in str(info.value)


def test_normalize_none_string_equals_none():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    x = torch.randn(2, 1, 8, 8)
    by_string = rc.Recollector(model, normalize="none")(x, "class")
    by_none = rc.Recollector(model, normalize=None)(x, "class")
    assert by_string.options == by_none.options and by_string.options.normalize is None
    assert torch.equal(by_string.image, by_none.image)
    assert not torch.equal(by_string.image, rc.Recollector(model)(x, "class").image)  # it is not the default


def test_a_study_with_rectify_input_false_runs(tmp_path):
    text = """
[study]
name = "rectify"
engine = "cnn.recollect"
seed = 0
[data]
images = "drawn-digits"
limit = 2
gallery = false
[params]
model = "digits"
normalize = "none"
[grid]
rectify_input = [true, false]
"""
    (tmp_path / "s.toml").write_text(text)
    summary = run_study(load_study(tmp_path / "s.toml"), tmp_path / "out", workers=1)
    assert (summary.done, summary.failures) == (4, [])
    with open(tmp_path / "out" / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    by = {(r["image"], r["rectify_input"]): float(r["pearson"]) for r in rows}
    assert set(by) == {(i, v) for i in ("digit-0", "digit-1") for v in ("true", "false")}
    assert by[("digit-0", "true")] != by[("digit-0", "false")]  # the option reaches the retrace


def test_the_registry_lists_the_models_and_refuses_an_unknown_one_in_one_line():
    assert list_models()[:3] == ["digits", "alexnet", "alexnet-convpool"] and rc.list_models() == list_models()
    spec = get_model("alexnet")
    assert (spec.size, spec.mean, len(spec.class_names())) == (224, (0.485, 0.456, 0.406), 1000)
    with pytest.raises(OptionError, match="unknown model 'vgg'; choose from digits, alexnet, alexnet-convpool") as info:
        rc.load_model("vgg")
    assert "\n" not in str(info.value)
    result = CliRunner().invoke(app, ["classes", "--model", "vgg"])
    assert result.exit_code == 2 and "vgg" in result.output and "Traceback" not in result.output


@pytest.fixture
def tiny_model():
    """A model registered for this test only (removed after it)."""
    from recollection.cnn import registry

    @register_model("tiny-test", classes=["a", "b", "c"], size=8, mean=(0.5,), std=(0.25,), help="a test model")
    def load(weights, *, random_init, download_ok):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(4 * 4 * 4, 3)), "random initialisation (seed 0)"

    yield "tiny-test"
    del registry._REGISTRY["tiny-test"]


def test_a_registered_model_loads_and_recollects(tiny_model, tmp_path):
    from PIL import Image

    assert tiny_model in list_models()
    info = rc.load_model(tiny_model)
    assert (info.classes, info.size, info.channels, info.weights) == (["a", "b", "c"], 8, 1,
                                                                     "random initialisation (seed 0)")
    Image.new("L", (20, 12), 200).save(tmp_path / "grey.png")
    x = info.inputs([tmp_path / "grey.png", Image.new("L", (8, 8), 0)])
    assert x.shape == (2, 1, 8, 8) and torch.allclose(x[1], torch.full((1, 8, 8), -2.0))
    result = rc.Recollector(info.model, classes=info.classes)(x, "class:b")
    assert result.image.shape == x.shape and result.targets.tolist() == [1, 1]
    with pytest.raises(ValueError, match="already registered"):
        register_model(tiny_model, classes=[], size=8, mean=(0.5,), std=(0.25,))(lambda *a, **k: None)


def test_the_top_level_api_and_a_fast_import():
    import recollection.retrace.engine as engine

    assert rc.Recollector is engine.Recollector and rc.Source is engine.Source
    for name in rc.__all__:
        assert getattr(rc, name) is not None, name
    assert {"Recollector", "Source", "RetraceOptions", "load_model", "list_models", "get_model",
            "register_model"} <= set(rc.__all__)
    from recollection.naming import NameNeurons, SpikeSVM  # noqa: F401
    with pytest.raises(AttributeError):
        rc.no_such_name  # noqa: B018
    # neither the package nor the command line imports torch before a command needs it
    code = "import sys, recollection, recollection.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
