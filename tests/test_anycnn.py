"""Any PyTorch CNN: functional ops, reused modules, BatchNorm, residual joins, concatenation;
twins with identical weights against Captum's Deconvolution; refusals and the replay check;
the caller's model untouched; per-sample targets."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from recollection.errors import ModelError, OptionError
from recollection.retrace.engine import Recollector
from recollection.retrace.record import record

CAPTUM = dict(normalize=None, positivise=True, positivise_conv=True, rectify_input=False, unpool="switches")
TARGETS = [3, 0, 7, 3]


def _images(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _deconvolution(model, x, targets):
    from captum.attr import Deconvolution

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return Deconvolution(model).attribute(x.clone(), target=targets).detach()


def _assert_close(image, expected):
    scale = expected.abs().max().item()
    assert scale > 0 and image.shape == expected.shape
    torch.testing.assert_close(image, expected, rtol=1e-4, atol=1e-5 * scale)


def _differ(a, b):
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-30)
    return not torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


def _busy_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so that BatchNorm is not the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
    return model


# --------------------------------------------------------------------------------------
# Twin 1: functional ReLU, torch.flatten, a reused pool, a functional conv
# --------------------------------------------------------------------------------------

class UserStyleNet(nn.Module):
    """How a user writes it: F.relu, a pool module used twice, torch.flatten, F.conv2d on a parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5, padding=2)
        self.w2 = nn.Parameter(torch.randn(12, 8, 3, 3) * 0.2)
        self.pool = nn.MaxPool2d(3, 2)
        self.fc = nn.Linear(12 * 7 * 7, 16)
        self.out = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(F.conv2d(x, self.w2, padding=1)))
        x = torch.flatten(x, 1)
        return self.out(F.relu(self.fc(x)))


class ModuleTwin(nn.Module):
    """The same network with one module per site (what Captum's Deconvolution hooks)."""

    def __init__(self, user: UserStyleNet) -> None:
        super().__init__()
        conv2 = nn.Conv2d(8, 12, 3, padding=1, bias=False)
        conv2.weight = nn.Parameter(user.w2.detach().clone())
        self.features = nn.Sequential(copy.deepcopy(user.conv1), nn.ReLU(), nn.MaxPool2d(3, 2), conv2, nn.ReLU(),
                                      nn.MaxPool2d(3, 2))
        self.classifier = nn.Sequential(nn.Flatten(), copy.deepcopy(user.fc), nn.ReLU(), copy.deepcopy(user.out))

    def forward(self, x):
        return self.classifier(self.features(x))


@pytest.fixture(scope="module")
def twins():
    torch.manual_seed(3)
    user = UserStyleNet().eval()
    return user, ModuleTwin(user).eval()


def test_functional_model_equals_captum_on_its_module_twin(twins):
    user, twin = twins
    x = _images((4, 3, 32, 32), 1)
    with torch.inference_mode():
        torch.testing.assert_close(user(x), twin(x))
    ours = Recollector(user, **CAPTUM)(x, "class", target=TARGETS)
    assert ours.targets.tolist() == TARGETS
    _assert_close(ours.image, _deconvolution(twin, x, TARGETS))
    # the ReLUs are really there: without rectification the result differs
    plain = Recollector(user, **{**CAPTUM, "positivise": False, "positivise_conv": False})(x, target=TARGETS)
    assert _differ(plain.image, ours.image)


def test_functional_model_records_every_op_and_names_layers_like_its_twin(twins):
    user, twin = twins
    x = _images((2, 3, 32, 32), 2)
    ours, theirs = record(user, x), record(twin, x)
    kinds = ["conv", "relu", "maxpool", "conv", "relu", "maxpool", "reshape", "linear", "relu", "linear"]
    assert [s.kind for s in ours.steps] == [s.kind for s in theirs.steps] == kinds
    assert [t.name for t in ours.taps] == [t.name for t in theirs.taps] == ["fc4", "fc3", "pool2", "conv2", "pool1",
                                                                           "conv1"]
    pools = [s for s in ours.steps if s.kind == "maxpool"]
    assert len(pools) == 2 and pools[0].module is pools[1].module is user.pool  # one module, two ops
    assert [s.name for s in pools] == ["pool", "pool#2"]
    for options in ({}, {"normalize": "std", "wta": True}, {"unpool": "switches-overwrite"}):
        a = Recollector(user, **options)(x, "layer:3")
        b = Recollector(twin, **options)(x, "layer:3")
        torch.testing.assert_close(a.image, b.image)
        assert [e.name for e in a.cascade] == [e.name for e in b.cascade]


# --------------------------------------------------------------------------------------
# Twin 2: a small ResNet (BatchNorm, residual adds, one in-place ReLU used twice)
# --------------------------------------------------------------------------------------

class Block(nn.Module):
    """torchvision's BasicBlock style: one in-place ReLU module used twice, ``out += identity``."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        self.blocks = nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class Join(nn.Module):
    def forward(self, a, b):
        return a + b


class TwinBlock(nn.Module):
    """The same block with one ReLU module per site and a module for the join (Captum needs both ReLUs)."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.bn2 = (copy.deepcopy(m) for m in (block.conv1, block.bn1,
                                                                                 block.conv2, block.bn2))
        self.down = copy.deepcopy(block.down)
        self.relu1, self.relu2, self.join = nn.ReLU(), nn.ReLU(), Join()

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(self.join(out, identity))


class TwinResNet(nn.Module):
    def __init__(self, net: TinyResNet) -> None:
        super().__init__()
        stem = copy.deepcopy(net.stem)
        stem[2] = nn.ReLU()
        self.stem = stem
        self.blocks = nn.Sequential(*(TwinBlock(b) for b in net.blocks))
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), copy.deepcopy(net.fc)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


@pytest.fixture(scope="module")
def resnets():
    torch.manual_seed(4)
    net = _busy_batchnorm(TinyResNet()).eval()
    return net, TwinResNet(net).eval()


def test_small_resnet_equals_captum_on_its_module_twin(resnets):
    net, twin = resnets
    x = _images((4, 3, 24, 24), 3)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), twin(x))
    ours = Recollector(net, **CAPTUM)(x, "class", target=torch.tensor(TARGETS))
    _assert_close(ours.image, _deconvolution(twin, x, TARGETS))
    trace = Recollector(net).perceive(x)
    kinds = [s.kind for s in trace.steps]
    assert kinds.count("add") == 2 and kinds.count("batchnorm") == 6 and kinds.count("relu") == 5
    names = [t.name for t in trace.taps]
    assert names[:3] == ["fc", "blocks.1.add", "blocks.1.conv2"] and "blocks.1.down.0" in names
    assert "blocks.0.relu#2" in [s.name for s in trace.steps]  # the in-place ReLU module, recorded twice


def test_batchnorm_matters_and_every_option_runs_on_a_graph(resnets):
    net, _ = resnets
    x = _images((2, 3, 24, 24), 4)
    plain = copy.deepcopy(net)
    for m in plain.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()
            m.reset_running_stats()
    a = Recollector(net, **CAPTUM)(x, target=1)
    b = Recollector(plain, **CAPTUM)(x, target=1)
    assert _differ(a.image, b.image)
    trace = Recollector(net).perceive(x)
    for options in ({}, {"normalize": "minmax_local", "wta": True}, {"unpool": "random", "seed": 2},
                    {"unpool": "switches-overwrite"}):
        rec = Recollector(net, **options)
        for source in ("class", "layer:4", "random:2"):
            result = rec.recall(trace, source)
            assert result.image.shape == x.shape and torch.isfinite(result.image).all(), (options, source)
            assert result.image.std() > 0, (options, source)
    rec = Recollector(net)
    for source, result in zip(["class", "layer:1", "zero"], rec.recall_many(trace, ["class", "layer:1", "zero"])):
        single = rec.recall(trace, source).image
        torch.testing.assert_close(result.image, single, rtol=1e-4, atol=1e-5 * max(single.abs().max(), 1e-30))


# --------------------------------------------------------------------------------------
# Refusals and the replay check
# --------------------------------------------------------------------------------------

class Sigmoidal(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(torch.sigmoid(self.conv(x)).flatten(1))


class Branchy(nn.Module):
    """Control flow on the data: fx cannot trace it, and no one recorded pass stands for the model."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        x = self.conv(x)
        if x.sum() > 0:
            x = F.relu(x)
        return self.fc(x.flatten(1))


class ShapeBranch(nn.Module):
    """Control flow on the input's size: fx cannot trace it; the recorder follows the pass this batch takes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = F.relu(self.conv(x))
        while x.shape[-1] > 4:
            x = self.pool(x)
        return self.fc(x.flatten(1))


def test_an_op_without_a_rule_is_refused_in_one_line_naming_it_and_where():
    with pytest.raises(ModelError) as info:
        Recollector(Sigmoidal())(torch.zeros(2, 1, 8, 8))
    message = str(info.value)
    assert "torch.sigmoid" in message and "Sigmoidal.forward:sigmoid" in message and "\n" not in message
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with pytest.raises(ModelError, match=r"nn\.Sigmoid at 1: it has no backward rule"):
        Recollector(model)(torch.zeros(2, 1, 8, 8))


class Chunky(nn.Module):
    """A path through an op without a rule that returns several tensors (``chunk``), next to a fine path."""

    def __init__(self, branch: bool) -> None:
        super().__init__()
        self.branch = branch
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc, self.fc2 = nn.Linear(2 * 6 * 6, 3), nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        h = F.relu(self.conv(x))
        if self.branch and h.shape[-1] > 2:  # fx cannot trace this: the dispatch recorder takes over
            h = h + 0
        a, _ = h.chunk(2, dim=1)
        return self.fc(a.flatten(1)) + self.fc2(h.flatten(1))


@pytest.mark.parametrize("branch", [False, True])
def test_a_path_through_an_op_without_a_rule_is_refused_even_beside_a_good_one(branch):
    with pytest.raises(ModelError, match="chunk"):
        Recollector(Chunky(branch))(torch.randn(2, 1, 8, 8))


def test_a_branch_on_the_data_is_refused():
    with pytest.raises(ModelError, match="reads values of the input in Python"):
        Recollector(Branchy())(torch.randn(2, 1, 8, 8))


def test_control_flow_on_shapes_is_recorded_per_batch_and_checked():
    torch.manual_seed(5)
    model = ShapeBranch().eval()
    twin = nn.Sequential(copy.deepcopy(model.conv), nn.ReLU(), nn.MaxPool2d(2), nn.MaxPool2d(2), nn.Flatten(),
                         copy.deepcopy(model.fc)).eval()
    x = _images((4, 1, 16, 16), 6)
    trace = Recollector(model).perceive(x)
    assert trace.source == "dispatch" and [s.kind for s in trace.steps].count("maxpool") == 2
    targets = [0, 1, 2, 0]
    _assert_close(Recollector(model, **CAPTUM)(x, target=targets).image, _deconvolution(twin, x, targets))


def test_the_replay_check_fires_when_the_recording_cannot_see_a_hook():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x = _images((2, 1, 8, 8), 7)
    Recollector(model)(x)  # fine without the hook
    handle = model[1].register_forward_hook(lambda m, i, o: o * 2.0)
    try:
        with pytest.raises(ModelError, match=r"does not reproduce Sequential\(x\)"):
            Recollector(model)(x)
    finally:
        handle.remove()
    Recollector(model)(x)


def test_cli_says_one_line_for_a_model_without_a_rule(monkeypatch, digit_png, tmp_path):
    from typer.testing import CliRunner

    import recollection.cnn.models as models
    from recollection.cli import app

    real = models.load_model

    def load(name, *args, **kwargs):
        info = real("digits", random_init=True)
        info.model.features[1] = nn.Sigmoid()
        return info

    monkeypatch.setattr(models, "load_model", load)
    result = CliRunner().invoke(app, ["reconstruct", str(digit_png), "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "nn.Sigmoid at features.1" in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) <= 3


# --------------------------------------------------------------------------------------
# The caller's model is untouched
# --------------------------------------------------------------------------------------

def _snapshot(model: nn.Module):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            [(m.training, dict(m._forward_hooks), dict(m._forward_pre_hooks), sorted(m.__dict__)) for m in model.modules()],
            [p for p in model.parameters()], {p.device for p in model.parameters()})


@pytest.mark.parametrize("model_name", ["resnet", "branchy"])
def test_the_callers_model_is_unchanged(resnets, model_name):
    model = copy.deepcopy(resnets[0]) if model_name == "resnet" else ShapeBranch()
    model.train()  # BatchNorm would update its running statistics, dropout would drop, if run in train mode
    before = _snapshot(model)
    x = _images((2, 3 if model_name == "resnet" else 1, 16, 16), 8)
    rec = Recollector(model)
    rec(x, "class")
    rec.recall_many(rec.perceive(x), ["class", "zero"])
    after = _snapshot(model)
    assert before[0].keys() == after[0].keys()
    for key in before[0]:
        assert torch.equal(before[0][key], after[0][key]), key  # parameters and buffers (running stats, counts)
    assert before[1] == after[1]  # training flags, hooks, attributes
    assert all(a is b for a, b in zip(before[2], after[2])) and before[3] == after[3]
    assert all(m.training for m in model.modules())


# --------------------------------------------------------------------------------------
# Per-sample targets
# --------------------------------------------------------------------------------------

def test_targets_as_int_list_tensor_and_names(twins):
    user, _ = twins
    x = _images((4, 3, 32, 32), 9)
    rec = Recollector(user, normalize=None, classes=[f"c{i}" for i in range(10)])
    trace = rec.perceive(x)
    by_list = rec.recall(trace, target=TARGETS)
    by_tensor = rec.recall(trace, "class", target=torch.tensor(TARGETS))
    by_names = rec.recall(trace, target=[f"c{t}" for t in TARGETS])
    assert by_list.targets.tolist() == by_tensor.targets.tolist() == by_names.targets.tolist() == TARGETS
    assert torch.equal(by_list.image, by_tensor.image) and torch.equal(by_list.image, by_names.image)
    assert torch.equal(by_list.cascade[0].value.argmax(1), torch.tensor(TARGETS))
    for i, t in enumerate(TARGETS):  # each image as if recalled alone with its own class
        alone = rec.recall(rec.perceive(x[i:i + 1]), f"class:{t}").image
        torch.testing.assert_close(by_list.image[i:i + 1], alone)
    assert rec.recall(trace, target=5).targets.tolist() == [5] * 4
    many = rec.recall_many(trace, ["class", "zero", "class:2"], target=TARGETS)
    assert many[0].targets.tolist() == TARGETS and many[2].targets.tolist() == [2] * 4
    torch.testing.assert_close(many[0].image, by_list.image)


@pytest.mark.parametrize("source,target,message", [
    ("class", [1, 2], "2 entries for a batch of 4"),
    ("class", [1, 2, 3, 10], "out of range"),
    ("class", torch.zeros(4, 2, dtype=torch.long), "1-D integer tensor"),
    ("class", [1.5, 2, 3, 4], "class indices or names"),
    ("zero", 1, "takes none"),
    ("class:3", 1, "names its own class"),
])
def test_bad_targets_are_option_errors(twins, source, target, message):
    user, _ = twins
    rec = Recollector(user)
    trace = rec.perceive(_images((4, 3, 32, 32), 10))
    with pytest.raises(OptionError, match=message):
        rec.recall(trace, source, target=target)


# --------------------------------------------------------------------------------------
# The torchvision models, random weights, against Captum
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vgg16_bn", "resnet18"])
def test_torchvision_models_with_random_weights_equal_captum(name):
    from recollection.cnn.loaders import build_imagenet

    torch.manual_seed(7)
    model = _busy_batchnorm(build_imagenet(name)).eval()
    x = _images((4, 3, 32, 32), 11)
    ours = Recollector(model, **CAPTUM)(x, "class", target=TARGETS)
    _assert_close(ours.image, _deconvolution(model, x, TARGETS))


# --------------------------------------------------------------------------------------
# switches-overwrite: the research notebook's MaxUnpool2d
# --------------------------------------------------------------------------------------

def _maxunpool_retrace(model, x: torch.Tensor, target: int) -> torch.Tensor:
    """AlexNet walked back by hand as the notebook did it, with nn.MaxUnpool2d's semantics (F.max_unpool2d),
    no normalisation and the rectification where each forward ReLU stood."""
    layers = list(model.features) + [model.avgpool, nn.Flatten()] + list(model.classifier)
    record, h = [], x
    with torch.inference_mode():
        for m in layers:
            indices = None
            if isinstance(m, nn.MaxPool2d):
                out, indices = F.max_pool2d(h, m.kernel_size, m.stride, return_indices=True)
            else:
                out = m(h)
            record.append((m, h.shape, indices))
            h = out
        y = torch.zeros_like(h)
        y[:, target] = 1.0
        for m, shape, indices in reversed(record):
            if isinstance(m, nn.Linear):
                y = y @ m.weight
            elif isinstance(m, nn.ReLU):
                y = y.clamp_min(0)
            elif isinstance(m, nn.MaxPool2d):
                y = F.max_unpool2d(y, indices, m.kernel_size, m.stride, output_size=shape[-2:])
            elif isinstance(m, nn.Conv2d):
                base = (y.shape[-1] - 1) * m.stride[0] - 2 * m.padding[0] + m.kernel_size[0]
                y = F.conv_transpose2d(y, m.weight, stride=m.stride, padding=m.padding,
                                       output_padding=shape[-1] - base)
            elif isinstance(m, nn.Flatten):
                y = y.reshape(shape)
            elif isinstance(m, nn.AdaptiveAvgPool2d):
                assert tuple(shape[-2:]) == (6, 6)  # identity at 224 px
    return y


def test_switches_overwrite_equals_max_unpool2d_on_alexnet():
    from recollection.cnn.alexnet import AlexNet

    torch.manual_seed(0)
    model = AlexNet().eval()
    x = _images((1, 3, 224, 224), 12)
    overwrite = Recollector(model, **{**CAPTUM, "unpool": "switches-overwrite"})(x, target=281).image
    expected = _maxunpool_retrace(model, x, 281)
    _assert_close(overwrite, expected)
    switches = Recollector(model, **CAPTUM)(x, target=281).image
    assert _differ(switches, overwrite)  # overlapping 3×3/2 windows: adding and overwriting differ


def test_cli_layers_explains_layer_numbers_on_a_graph():
    from typer.testing import CliRunner

    from recollection.cli import app

    result = CliRunner().invoke(app, ["layers", "--model", "resnet18"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["0", "fc"] and lines[1].split()[:3] == ["1", "layer4.1.add", "512×7×7"]
    assert any(line.split()[1:2] == ["layer1.0.conv1"] for line in lines[:30])
    assert "counted back from the logits" in result.output and "residual join" in result.output
