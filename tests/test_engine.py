"""The recollection engine end to end: Captum equivalence, every option, sources, batching,
controls, the cascade, errors and the ConvPool variant."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
from torch import nn

from recollection.cnn.alexnet import AlexNet, alexnet_convpool
from recollection.cnn.classes import imagenet_classes
from recollection.cnn.digits import DigitsNet
from recollection.errors import ModelError, OptionError
from recollection.retrace.engine import Recollector
from recollection.retrace.normalize import NORMALIZATIONS
from recollection.retrace.sources import Source, random_other_classes
from recollection.retrace.steps import UNPOOL_MODES

RAW = dict(normalize=None, positivise=True, positivise_conv=True, rectify_input=False, unpool="switches")
ALEXNET_CASCADE = ["source", "fc8", "fc7", "fc6", "pool5", "conv5", "conv4", "conv3", "pool2", "conv2", "pool1", "conv1"]
ALEXNET_TAPS = ["fc8", "fc7", "fc6", "pool5", "conv5", "conv4", "conv3", "pool2", "conv2", "pool1", "conv1"]


def _images(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-30)
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


def _differ(a: torch.Tensor, b: torch.Tensor) -> bool:
    return not _same(a, b)


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return AlexNet().eval()


@pytest.fixture(scope="module")
def digits():
    torch.manual_seed(1)
    return DigitsNet().eval()


@pytest.fixture(scope="module")
def x224():
    return _images((2, 3, 224, 224), 1)


@pytest.fixture(scope="module")
def x96():
    """Two small images: AlexNet runs at 96 px (pool5 2×2, so the adaptive pool is not the identity)."""
    return _images((2, 3, 96, 96), 2)


@pytest.fixture(scope="module")
def trace96(alexnet, x96):
    return Recollector(alexnet).perceive(x96[:1])


@pytest.fixture(scope="module")
def raw224(alexnet, x224):
    return Recollector(alexnet, **RAW)(x224, "class")


# --------------------------------------------------------------------------------------
# 1. Captum's Deconvolution
# --------------------------------------------------------------------------------------

def _deconvolution(model, x, targets):
    from captum.attr import Deconvolution

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Deconvolution(model).attribute(x.clone(), target=targets).detach()


def _assert_matches_captum(image, expected):
    assert image.shape == expected.shape
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(image, expected, rtol=1e-4, atol=1e-5 * scale)


def test_alexnet_equals_captum_deconvolution(alexnet, x224, raw224):
    _assert_matches_captum(raw224.image, _deconvolution(alexnet, x224, raw224.targets))


def test_alexnet_equals_captum_deconvolution_with_a_class_per_image(alexnet, x224):
    rec = Recollector(alexnet, **RAW)
    result = rec(x224, "random-class")
    assert result.targets[0] != result.targets[1]  # a different class neuron for each image
    _assert_matches_captum(result.image, _deconvolution(alexnet, x224, result.targets))


def test_digits_equals_captum_deconvolution(digits):
    x = _images((2, 1, 32, 32), 3)
    result = Recollector(digits, **RAW)(x, "class")
    _assert_matches_captum(result.image, _deconvolution(digits, x, result.targets))
    other = Recollector(digits, **RAW)(x, "random-class")
    _assert_matches_captum(other.image, _deconvolution(digits, x, other.targets))


def test_captum_comparison_is_sensitive_to_the_deferred_rectification(alexnet, x224, raw224):
    """Rectifying right after conv2/conv3 instead of after the unpool (where the forward ReLU sat) differs."""
    expected = _deconvolution(alexnet, x224, raw224.targets)
    unrectified = Recollector(alexnet, **{**RAW, "positivise_conv": False})(x224, "class")
    assert _differ(unrectified.image, expected)


# --------------------------------------------------------------------------------------
# 2. Every option reaches the output
# --------------------------------------------------------------------------------------

def _recall(model, trace, source="class", **options):
    return Recollector(model, **options).recall(trace, source)


def _per_group(x: torch.Tensor, local: bool) -> torch.Tensor:
    """Rows of the statistics' groups: per sample (global), per sample and channel (local, conv maps)."""
    if local and x.dim() == 4:
        return x.reshape(x.shape[0] * x.shape[1], -1)
    return x.reshape(x.shape[0], -1)


@pytest.mark.parametrize("method", list(NORMALIZATIONS))
def test_each_normalisation_reaches_every_step(alexnet, trace96, method):
    plain = _recall(alexnet, trace96, normalize=None)
    result = _recall(alexnet, trace96, normalize=method, positivise=False, positivise_conv=False)
    rectified = _recall(alexnet, trace96, normalize=method)
    assert _differ(rectified.image, plain.image)
    assert _differ(result.image, plain.image)
    local = method in ("std", "rescale_std_local", "minmax_local")
    for entry in result.cascade[1:]:
        rows = _per_group(entry.value, local)
        rows = rows[rows.amax(1) > rows.amin(1)]  # constant groups normalise to zeros
        assert len(rows) > 0, entry.name
        lo, hi = rows.amin(1), rows.amax(1)
        if method in ("std", "std_global"):
            torch.testing.assert_close(rows.mean(1), torch.zeros(len(rows)), atol=1e-4, rtol=0)
            torch.testing.assert_close(rows.std(1, correction=0), torch.ones(len(rows)), atol=1e-4, rtol=0)
        elif method in ("minmax", "minmax_local"):
            assert torch.allclose(lo, torch.zeros_like(lo)) and torch.allclose(hi, torch.ones_like(hi)), entry.name
        elif method == "minmax_rescale":
            assert torch.allclose(lo, -torch.ones_like(lo)) and torch.allclose(hi, torch.ones_like(hi)), entry.name
        elif method == "minmax_01_05_rescale":
            assert torch.allclose(lo, torch.full_like(lo, 0.5)) and torch.allclose(hi, torch.full_like(hi, 0.6))
        else:  # rescale_std(_local): clip(0.1 z + 0.5, 0, 1)
            assert lo.min() >= 0.0 and hi.max() <= 1.0
            unclipped = ((rows > 0) & (rows < 1)).all(1)
            assert unclipped.any() or entry.name.startswith("pool"), entry.name
            inner = rows[unclipped]  # groups the clip did not touch: exactly mean 0.5, std 0.1
            if len(inner):
                torch.testing.assert_close(inner.mean(1), torch.full_like(inner[:, 0], 0.5), atol=1e-4, rtol=0)
                torch.testing.assert_close(inner.std(1, correction=0), torch.full_like(inner[:, 0], 0.1),
                                           atol=1e-4, rtol=0)
            clipped = rows[~unclipped]  # the rest: only a few outliers clipped
            if len(clipped):
                assert ((clipped == 0) | (clipped == 1)).float().mean() < 0.05
                assert ((clipped.mean(1) - 0.5).abs() < 0.02).all(), entry.name


@pytest.mark.parametrize("method", list(NORMALIZATIONS))
@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (3, 7), (2, 5, 1, 1)])
def test_normalising_in_place_gives_the_same_map_and_otherwise_leaves_the_input_alone(method, shape):
    from recollection.retrace.normalize import normalize

    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 3 + 1
    x[0] = 2.0  # a constant sample normalises to its fixed value, in place or not
    kept = x.clone()
    copied = normalize(x, method)
    assert torch.equal(x, kept)  # the default never writes into its input
    overwritten = x.clone()
    in_place = normalize(overwritten, method, inplace=True)
    torch.testing.assert_close(in_place, copied, atol=1e-6, rtol=0)
    assert in_place.data_ptr() == overwritten.data_ptr()  # no copy of the map was made


def test_the_engine_normalises_in_place_without_touching_its_cascade(alexnet, trace96):
    """The walk back lets normalisation overwrite fresh maps; every reported map must stay as reported."""
    result = _recall(alexnet, trace96, normalize="rescale_std")
    again = _recall(alexnet, trace96, normalize="rescale_std")
    for a, b in zip(result.cascade, again.cascade):
        assert a.name == b.name and torch.equal(a.value, b.value)
    for entry in result.cascade[1:]:
        if entry.name.startswith(("conv", "fc")):
            assert entry.value.min() >= 0 and entry.value.max() <= 1  # normalised, then rectified: not overwritten


def test_normalisations_differ_from_each_other_where_they_should(alexnet, trace96):
    results = {m: _recall(alexnet, trace96, normalize=m) for m in NORMALIZATIONS}
    local_pairs = {("std", "std_global"), ("rescale_std", "rescale_std_local"), ("minmax", "minmax_local")}
    for a, b in itertools.combinations(NORMALIZATIONS, 2):
        ca, cb = results[a].cascade, results[b].cascade
        assert _differ(results[a].image, results[b].image), (a, b)
        if (a, b) in local_pairs or (b, a) in local_pairs:
            # local and global statistics coincide on dense (per-sample feature) maps ...
            dense = [i for i, e in enumerate(ca) if e.value.dim() == 2 and e.name != "source"]
            assert [ca[i].name for i in dense] == ["fc8", "fc7"]
            assert all(_same(ca[i].value, cb[i].value) for i in dense), (a, b)
            # ... and differ on every conv map (per channel over H×W vs over C×H×W)
            assert all(_differ(x.value, y.value) for x, y in zip(ca, cb) if x.value.dim() == 4), (a, b)


def test_positivise_rectifies_the_dense_steps(alexnet, trace96):
    on = _recall(alexnet, trace96, normalize=None, positivise=True)
    off = _recall(alexnet, trace96, normalize=None, positivise=False)
    assert _differ(on.image, off.image)
    for name in ("fc8", "fc7"):
        assert _entry(on, name).min() >= 0
        assert _entry(off, name).min() < 0
    # the normalisation comes first: rescale_std is already >= 0, so positivise changes nothing there
    assert _same(_recall(alexnet, trace96, positivise=False).image, _recall(alexnet, trace96).image)


def _entry(result, name):
    [value] = [e.value for e in result.cascade if e.name == name]
    return value


def test_positivise_conv_rectifies_conv_and_unpool_steps(alexnet, trace96):
    on = _recall(alexnet, trace96, normalize=None, positivise_conv=True, rectify_input=False)
    off = _recall(alexnet, trace96, normalize=None, positivise_conv=False, rectify_input=False)
    assert _differ(on.image, off.image)
    for name in ("conv5", "conv4", "pool2", "pool1"):
        assert _entry(on, name).min() >= 0, name
        assert _entry(off, name).min() < 0, name
    # conv3 and conv2 sit above a pool: their rectification waits for the unpool
    for name in ("conv3", "conv2"):
        assert _entry(on, name).min() < 0, name
    # pool5 is rectified either way: fc6's rectification (positivise) was deferred to it
    assert _entry(off, "pool5").min() >= 0
    assert _entry(_recall(alexnet, trace96, normalize=None, positivise=False, positivise_conv=False),
                  "pool5").min() < 0


def test_rectify_input_only_changes_the_last_step(alexnet, trace96):
    on = _recall(alexnet, trace96, normalize=None, rectify_input=True)
    off = _recall(alexnet, trace96, normalize=None, rectify_input=False)
    assert on.image.min() >= 0
    assert off.image.min() < 0
    torch.testing.assert_close(on.image, off.image.clamp_min(0))
    for a, b in zip(on.cascade[:-1], off.cascade[:-1]):
        assert torch.equal(a.value, b.value), a.name


def test_wta_reaches_the_output(alexnet, trace96):
    on = _recall(alexnet, trace96, wta=True)
    off = _recall(alexnet, trace96, wta=False)
    assert _differ(on.image, off.image)
    # the maps before the first transposed conv are untouched
    for a, b in zip(on.cascade[:5], off.cascade[:5]):
        assert torch.equal(a.value, b.value), a.name
    assert _differ(_entry(on, "conv5"), _entry(off, "conv5"))


def test_each_unpool_mode_differs_from_the_others(alexnet, trace96):
    images = {mode: _recall(alexnet, trace96, unpool=mode).image for mode in UNPOOL_MODES}
    assert set(images) == {"switches", "switches-overwrite", "upsample", "random", "distribute"}
    for a, b in itertools.combinations(images, 2):
        assert _differ(images[a], images[b]), (a, b)
        assert images[a].shape == images[b].shape == trace96.inputs.shape


@pytest.mark.parametrize("source", ["class", "last-layer", "zero", "layer:4"])
def test_seed_does_not_matter_for_deterministic_sources(alexnet, trace96, source):
    a = _recall(alexnet, trace96, source, seed=0)
    b = _recall(alexnet, trace96, source, seed=123)
    assert torch.equal(a.image, b.image)


def test_seed_drives_random_class(alexnet, x96):
    trace = Recollector(alexnet).perceive(x96)
    runs = {seed: _recall(alexnet, trace, "random-class", seed=seed, normalize=None) for seed in (0, 1, 2)}
    again = _recall(alexnet, trace, "random-class", seed=0, normalize=None)
    assert torch.equal(runs[0].targets, again.targets) and torch.equal(runs[0].image, again.image)
    targets = {tuple(r.targets.tolist()) for r in runs.values()}
    assert len(targets) == 3
    assert _differ(runs[0].image, runs[1].image) or _differ(runs[0].image, runs[2].image)


def test_seed_drives_random_unpool(alexnet, trace96):
    a = _recall(alexnet, trace96, unpool="random", seed=0)
    b = _recall(alexnet, trace96, unpool="random", seed=0)
    c = _recall(alexnet, trace96, unpool="random", seed=1)
    assert torch.equal(a.image, b.image)
    assert _differ(a.image, c.image)


def test_seed_drives_random_layer_noise(alexnet, trace96):
    a = _recall(alexnet, trace96, "random:5", seed=0)
    b = _recall(alexnet, trace96, "random:5", seed=0)
    c = _recall(alexnet, trace96, "random:5", seed=1)
    assert torch.equal(a.cascade[0].value, b.cascade[0].value) and torch.equal(a.image, b.image)
    assert not torch.equal(a.cascade[0].value, c.cascade[0].value)
    assert _differ(a.image, c.image)


# --------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------

def test_every_source_kind_builds_its_signal(alexnet, trace96):
    logits = trace96.output
    predicted = int(trace96.predicted[0])
    results = {}
    for spec in ("class", "class:3", "last-layer", "random-class", "zero", "layer:4", "random:4"):
        result = _recall(alexnet, trace96, spec, normalize=None)
        results[spec] = result
        assert result.image.shape == trace96.inputs.shape, spec
        assert result.image is result.cascade[-1].value
        assert str(result.source) == spec
    src = {k: r.cascade[0].value for k, r in results.items()}
    one_hot = torch.zeros_like(logits)
    one_hot[0, predicted] = 1
    assert torch.equal(src["class"], one_hot) and results["class"].targets.tolist() == [predicted]
    three = torch.zeros_like(logits)
    three[0, 3] = 1
    assert torch.equal(src["class:3"], three) and results["class:3"].targets.tolist() == [3]
    assert torch.equal(src["last-layer"], logits) and results["last-layer"].targets is None
    assert src["random-class"].sum() == 1 and src["random-class"][0, predicted] == 0
    assert src["random-class"][0, int(results["random-class"].targets[0])] == 1
    assert torch.equal(src["zero"], torch.zeros_like(logits))
    conv5 = trace96.steps[trace96.taps[4].step].output
    assert torch.equal(src["layer:4"], conv5)
    assert src["random:4"].shape == conv5.shape and not torch.equal(src["random:4"], conv5)
    assert abs(src["random:4"].mean().item()) < 0.1 and abs(src["random:4"].std().item() - 1) < 0.1
    assert results["layer:4"].start == results["random:4"].start == "conv5"
    assert results["class"].start == "fc8"
    # every source gives its own reconstruction (zero gives none at all without normalisation)
    for a, b in itertools.combinations(results, 2):
        assert _differ(results[a].image, results[b].image), (a, b)


def test_class_by_index_and_by_name(alexnet, trace96):
    classes = imagenet_classes()
    tabby = classes.index("tabby")
    by_name = Recollector(alexnet, classes=classes).recall(trace96, "class:tabby cat")
    by_index = Recollector(alexnet).recall(trace96, f"class:{tabby}")
    assert by_name.targets.tolist() == by_index.targets.tolist() == [tabby]
    assert torch.equal(by_name.image, by_index.image)
    assert torch.equal(Recollector(alexnet).recall(trace96, Source("class", target=tabby)).image, by_index.image)
    assert _differ(Recollector(alexnet, normalize=None).recall(trace96, f"class:{tabby}").image,
                   Recollector(alexnet, normalize=None).recall(trace96, "class:0").image)


def test_class_by_name_on_a_model_with_custom_names(digits):
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    rec = Recollector(digits, classes=names)
    trace = rec.perceive(_images((2, 1, 32, 32), 4))
    result = rec.recall(trace, "class:seven")
    assert result.targets.tolist() == [7, 7]
    assert torch.equal(result.image, rec.recall(trace, "class:7").image)
    with pytest.raises(OptionError):
        Recollector(digits).recall(trace, "class:seven")  # names need a class list
    with pytest.raises(OptionError):
        rec.recall(trace, "class:eleven")
    with pytest.raises(OptionError):
        rec.recall(trace, "class:10")


def test_random_class_never_equals_predicted(digits):
    rec = Recollector(digits)
    trace = rec.perceive(_images((8, 1, 32, 32), 5))
    seen = set()
    for seed in range(6):
        result = Recollector(digits, seed=seed).recall(trace, "random-class")
        assert (result.targets != trace.predicted).all(), seed
        seen.update(result.targets.tolist())
    assert len(seen) >= 4  # and it is not always the same other class
    predicted = torch.tensor([0, 1, 999, 500] * 250)
    for seed in range(5):
        other = random_other_classes(predicted, 1000, torch.Generator().manual_seed(seed))
        assert (other != predicted).all() and other.min() >= 0 and other.max() < 1000


@pytest.fixture(scope="module")
def trace224(alexnet, x224):
    return Recollector(alexnet).perceive(x224[:1])


def test_layer_source_from_every_alexnet_tap(alexnet, trace224):
    assert [t.name for t in trace224.taps] == ALEXNET_TAPS
    raw = Recollector(alexnet, normalize=None)
    images = []
    for tap in trace224.taps:
        result = raw.recall(trace224, f"layer:{tap.number}")
        assert result.start == tap.name
        assert tuple(result.cascade[0].value.shape) == (1, *tap.shape), tap.name
        assert torch.equal(result.cascade[0].value, trace224.steps[tap.step].output)
        assert result.image.shape == trace224.inputs.shape, tap.name
        assert [e.name for e in result.cascade] == ["source"] + ALEXNET_CASCADE[1 + tap.number:], tap.name
        assert torch.isfinite(result.image).all() and result.image.abs().max() > 0
        images.append(result.image)
    for a, b in itertools.combinations(range(len(images)), 2):
        assert _differ(images[a], images[b]), (a, b)


def test_random_source_from_every_alexnet_tap(alexnet, trace96):
    rec = Recollector(alexnet)
    for tap in trace96.taps:
        result = rec.recall(trace96, f"random:{tap.number}")
        assert tuple(result.cascade[0].value.shape) == (1, *tap.shape)
        assert result.image.shape == trace96.inputs.shape
        assert result.start == tap.name


@pytest.mark.parametrize("layer,top", [(4, 1.0), (10, 0.5), (1, 5.0), (3, 10.0)])
def test_top_percent_over_the_whole_map(alexnet, trace224, layer, top):
    full = trace224.steps[trace224.taps[layer].step].output
    raw = Recollector(alexnet, normalize=None)
    result = raw.recall(trace224, Source("layer", layer=layer, top=top))
    kept = result.cascade[0].value
    k = math.ceil(full.numel() * top / 100)
    assert (full > 0).sum() > k  # enough positive activations for the top P% to be all non-zero
    assert (kept != 0).sum() == k
    assert abs((kept != 0).float().mean().item() - top / 100) < 1 / full.numel() + 1e-6
    nz = kept != 0
    assert torch.equal(kept[nz], full[nz])  # kept values are unchanged ...
    assert full[nz].min() >= full[~nz].max()  # ... and are the largest
    assert _differ(result.image, raw.recall(trace224, f"layer:{layer}").image)


@pytest.mark.parametrize("layer,top", [(10, 1.0), (4, 5.0)])
def test_top_percent_per_channel(alexnet, trace224, layer, top):
    full = trace224.steps[trace224.taps[layer].step].output[0]
    source = Source.parse(f"layer:{layer}", top=top, per_channel=True)
    raw = Recollector(alexnet, normalize=None)
    result = raw.recall(trace224, source)
    kept = result.cascade[0].value[0]
    c, h, w = full.shape
    k = math.ceil(h * w * top / 100)
    per_channel = (kept != 0).flatten(1).sum(1)
    positives = (full > 0).flatten(1).sum(1)
    assert torch.equal(per_channel, positives.clamp(max=k))  # k in every channel that has k positives
    assert (positives >= k).float().mean() > 0.5
    for ch in range(c):
        nz = kept[ch] != 0
        if nz.any() and (~nz).any():
            assert full[ch][nz].min() >= full[ch][~nz].max()
    over_all = raw.recall(trace224, Source("layer", layer=layer, top=top))
    assert not torch.equal(over_all.cascade[0].value, result.cascade[0].value)
    assert _differ(over_all.image, result.image)


# --------------------------------------------------------------------------------------
# 3. Batching
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("source,options", [
    ("class", {}),
    ("last-layer", {"normalize": "std_global", "wta": True}),
    (Source("layer", layer=7, top=10, per_channel=True), {"normalize": "minmax_local"}),
    ("layer:4", {"unpool": "distribute", "normalize": "rescale_std_local"}),
    ("zero", {}),
])
def test_a_batch_equals_each_image_alone(alexnet, x96, source, options):
    rec = Recollector(alexnet, **options)
    batch = rec(x96, source)
    for i in range(x96.shape[0]):
        alone = rec(x96[i:i + 1], source)
        assert _same(batch.image[i:i + 1], alone.image), i
        assert batch.predicted[i] == alone.predicted[0]
        for a, b in zip(batch.cascade, alone.cascade):
            assert _same(a.value[i:i + 1], b.value), (i, a.name)
    assert _differ(batch.image[0], batch.image[1])


def test_a_digits_batch_equals_each_image_alone(digits):
    x = _images((3, 1, 32, 32), 6)
    rec = Recollector(digits, normalize="rescale_std")
    batch = rec(x, "class")
    for i in range(3):
        assert _same(batch.image[i:i + 1], rec(x[i:i + 1], "class").image)


# --------------------------------------------------------------------------------------
# 4. The zero control
# --------------------------------------------------------------------------------------

def test_zero_source_without_normalisation_gives_nothing(alexnet, x96):
    result = Recollector(alexnet, normalize=None)(x96, "zero")
    assert torch.equal(result.image, torch.zeros_like(x96))


def test_zero_source_with_rescale_std_shows_the_switches(alexnet, x96):
    rec = Recollector(alexnet, normalize="rescale_std")
    zero = rec(x96, "zero")
    for i in range(2):
        assert zero.image[i].std() > 0  # not a constant image
    assert _differ(zero.image[0], zero.image[1])  # it depends on the input, through its switches
    # without switches it no longer depends on the input at all
    for mode in ("distribute", "upsample", "random"):
        blind = Recollector(alexnet, normalize="rescale_std", unpool=mode)
        assert _same(blind(x96[:1], "zero").image, blind(x96[1:], "zero").image), mode
    cls = rec(x96, "class")
    assert [e.name for e in cls.cascade] == [e.name for e in zero.cascade]
    assert [e.value.shape for e in cls.cascade] == [e.value.shape for e in zero.cascade]
    assert not torch.equal(cls.cascade[0].value, zero.cascade[0].value)
    assert torch.equal(zero.cascade[0].value, torch.zeros_like(zero.cascade[0].value))


# --------------------------------------------------------------------------------------
# 5. The cascade
# --------------------------------------------------------------------------------------

def test_alexnet_cascade_names_and_shapes(raw224, x224):
    cascade = raw224.cascade
    assert [e.name for e in cascade] == ALEXNET_CASCADE
    shapes = [tuple(e.value.shape[1:]) for e in cascade]
    assert shapes == [(1000,), (4096,), (4096,), (256, 6, 6), (256, 13, 13), (256, 13, 13), (384, 13, 13),
                      (192, 13, 13), (192, 27, 27), (64, 27, 27), (64, 55, 55), (3, 224, 224)]
    assert all(e.value.shape[0] == 2 for e in cascade)
    assert cascade[-1].value is raw224.image
    assert raw224.image.shape == x224.shape
    assert raw224.start == "fc8"


def test_digits_cascade_names(digits):
    result = Recollector(digits)(_images((1, 1, 32, 32), 7), "class")
    assert [e.name for e in result.cascade] == ["source", "fc6", "fc5", "fc4", "conv3", "pool2", "conv2",
                                                "pool1", "conv1"]
    # fc4's result is shown (and normalised) as the conv3 map it came from before nn.Flatten, as AlexNet's fc6
    assert [tuple(e.value.shape[1:]) for e in result.cascade] == [
        (10,), (128,), (128,), (64, 7, 7), (64, 7, 7), (64, 15, 15), (32, 15, 15), (32, 32, 32), (1, 32, 32)]
    assert result.cascade[-1].value is result.image


# --------------------------------------------------------------------------------------
# 6. Errors
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{"normalize": "zscore"}, {"normalize": "STD"}, {"unpool": "maxunpool"},
                                     {"unpool": ""}])
def test_unknown_options_are_option_errors(alexnet, options):
    with pytest.raises(OptionError):
        Recollector(alexnet, **options)


@pytest.mark.parametrize("spec", ["bogus", "class-neuron", "layer", "layer:x", "layer:-1", "random:", "zero:1"])
def test_unknown_source_specs_are_option_errors(spec):
    with pytest.raises(OptionError):
        Source.parse(spec)


@pytest.mark.parametrize("top", [0, -1, 100.5, 1000, float("nan")])
def test_top_outside_0_100_is_an_option_error(top):
    with pytest.raises(OptionError):
        Source("layer", layer=3, top=top)
    with pytest.raises(OptionError):
        Source.parse("layer:3", top=top)


def test_top_edges_and_kinds():
    assert Source("layer", layer=3, top=100).top == 100
    assert Source("layer", layer=3, top=0.01).top == 0.01
    with pytest.raises(OptionError):
        Source("nonsense")
    with pytest.raises(OptionError):
        Source.parse("class", top=5)  # top applies to layer sources only


@pytest.mark.parametrize("spec", ["layer:11", "random:11", "layer:99"])
def test_layer_out_of_range_is_an_option_error(alexnet, trace96, spec):
    with pytest.raises(OptionError):
        Recollector(alexnet).recall(trace96, spec)


def test_class_index_out_of_range_is_an_option_error(alexnet, trace96):
    for spec in ("class:1000", "class:-1"):
        with pytest.raises(OptionError):
            Recollector(alexnet).recall(trace96, spec)


def test_batchnorm_without_running_statistics_is_a_model_error():
    """It normalises by the batch's own statistics, so its backward is not a fixed linear map."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 6 * 6, 3))
    with pytest.raises(ModelError, match="BatchNorm2d.* at 1: it normalises by the statistics of the batch"):
        Recollector(model)(torch.zeros(1, 1, 8, 8), "class")


# --------------------------------------------------------------------------------------
# 7. The ConvPool variant
# --------------------------------------------------------------------------------------

def test_convpool_retraces_without_switches():
    torch.manual_seed(2)
    model = alexnet_convpool().eval()
    x = _images((1, 3, 96, 96), 8)
    trace = Recollector(model).perceive(x)
    assert all(step.switches is None for step in trace.steps)
    assert not any(isinstance(step.module, nn.MaxPool2d) for step in trace.steps)
    images = {}
    for mode in UNPOOL_MODES:
        result = Recollector(model, unpool=mode).recall(trace, "class")
        assert result.image.shape == x.shape
        images[mode] = result.image
        assert [e.name for e in result.cascade] == ["source", "fc8", "fc7", "fc6", "convpool5", "conv5", "conv4",
                                                    "conv3", "convpool2", "conv2", "convpool1", "conv1"]
    for mode in UNPOOL_MODES:
        assert torch.equal(images[mode], images["switches"]), mode
    assert images["switches"].std() > 0
    for tap in trace.taps:
        result = Recollector(model).recall(trace, f"layer:{tap.number}")
        assert result.image.shape == x.shape and tuple(result.cascade[0].value.shape[1:]) == tap.shape
