"""The models: AlexNet's torchvision layout, the ConvPool variant, the embedded digits model."""

import pytest
import torch
from torch import nn

from conftest import shared_path

from recollection.cnn.alexnet import AlexNet, alexnet_convpool, convpool_from
from recollection.cnn.models import load_model, packaged_digits_weights
from recollection.errors import OptionError

TORCHVISION_ALEXNET_KEYS = [
    f"{part}.{i}.{p}" for part, idxs in (("features", (0, 3, 6, 8, 10)), ("classifier", (1, 4, 6)))
    for i in idxs for p in ("weight", "bias")
]


def test_alexnet_has_torchvisions_state_dict_keys_and_shapes():
    state = AlexNet().state_dict()
    assert list(state) == TORCHVISION_ALEXNET_KEYS
    assert state["features.0.weight"].shape == (64, 3, 11, 11)
    assert state["classifier.6.weight"].shape == (1000, 4096)
    assert not any(getattr(m, "inplace", False) for m in AlexNet().modules())


def test_alexnet_forward_shape():
    assert AlexNet().eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_convpool_replaces_every_max_pool_and_keeps_accuracy_at_start():
    torch.manual_seed(0)
    base = AlexNet().eval()
    net = convpool_from(base).eval()
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())
    for i in (2, 5, 12):
        conv = net.features[i]
        assert isinstance(conv, nn.Conv2d) and conv.stride == (2, 2) and conv.kernel_size == (3, 3)
        assert conv.in_channels == conv.out_channels
    x = torch.randn(1, 3, 224, 224)
    assert net(x).shape == (1, 1000)
    # it starts as a 3x3 average pool: the pooled map equals avg_pool2d of the conv output
    feats = net.features[:2](x)
    assert torch.allclose(net.features[2](feats), nn.functional.avg_pool2d(feats, 3, 2), atol=1e-5)
    assert list(net.state_dict())[:4] == ["features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias"]


def test_convpool_loads_a_finetuned_checkpoint(tmp_path):
    net = alexnet_convpool()
    path = tmp_path / "convpool.pt"
    torch.save({"model": net.state_dict()}, path)
    loaded = load_model("alexnet-convpool", path).model
    assert torch.equal(loaded.features[2].weight, net.features[2].weight)


def test_embedded_digits_model_reaches_97_percent_on_held_out_mnist_digits():
    from recollection.cnn.train import accuracy, digits_pixels
    from recollection.data.digits import mnist

    info = load_model("digits")
    assert packaged_digits_weights().stat().st_size < 5 * 2**20
    assert info.meta["recipe"]["dataset"] == "mnist"
    images, labels = mnist(shared_path("data", "mnist"))
    held_out = info.meta["test_indices"]
    assert len(held_out) >= 1000
    x = info.normalise(digits_pixels(images[held_out]))
    acc = accuracy(info.model, x, torch.from_numpy(labels[held_out]))
    assert acc >= 0.97
    assert abs(acc - info.meta["test_accuracy"]) < 1e-6


def test_embedded_digits_model_names_the_drawn_demo_digits():
    from recollection.cnn.train import digits_pixels
    from recollection.data.drawn import drawn_digits

    info = load_model("digits")
    images, labels = drawn_digits()
    assert images.shape == (10, 28, 28) and images.max() == 255
    with torch.inference_mode():
        predicted = info.model(info.normalise(digits_pixels(images))).argmax(1)
    assert predicted.tolist() == labels.tolist()


def test_unknown_model_name():
    with pytest.raises(OptionError, match="digits"):
        load_model("vgg19")


def test_alexnet_offline_gives_instructions(monkeypatch, tmp_path):
    import recollection.cnn.weights as w

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(w, "ALEXNET_URL", "http://127.0.0.1:9/alexnet-owt-7be5be79.pth")
    from recollection.errors import WeightsError

    with pytest.raises(WeightsError) as info:
        load_model("alexnet")
    message = str(info.value)
    assert "--weights" in message and "--model digits" in message and "alexnet-owt-7be5be79.pth" in message


# --------------------------------------------------------------------------------------
# VGG-16, VGG-16-BN, ResNet-18: torchvision's layouts (state-dict keys and shapes)
# --------------------------------------------------------------------------------------

VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG16_BN_CONVS = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)


def _torchvision_vgg_keys(convs, bn: bool) -> list[str]:
    keys = []
    for i in convs:
        keys += [f"features.{i}.weight", f"features.{i}.bias"]
        if bn:
            keys += [f"features.{i + 1}.{p}" for p in ("weight", "bias", "running_mean", "running_var",
                                                         "num_batches_tracked")]
    return keys + [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]


def _torchvision_resnet18_keys() -> list[str]:
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["conv1.weight"] + [f"bn1.{p}" for p in bn]
    for stage in range(1, 5):
        for block in range(2):
            prefix = f"layer{stage}.{block}"
            keys += [f"{prefix}.conv1.weight"] + [f"{prefix}.bn1.{p}" for p in bn]
            keys += [f"{prefix}.conv2.weight"] + [f"{prefix}.bn2.{p}" for p in bn]
            if stage > 1 and block == 0:
                keys += [f"{prefix}.downsample.0.weight"] + [f"{prefix}.downsample.1.{p}" for p in bn]
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("name,keys", [
    ("vgg16", _torchvision_vgg_keys(VGG16_CONVS, False)),
    ("vgg16_bn", _torchvision_vgg_keys(VGG16_BN_CONVS, True)),
    ("resnet18", _torchvision_resnet18_keys()),
])
def test_torchvision_layouts_have_torchvisions_keys_and_shapes(name, keys):
    from recollection.cnn.loaders import build_imagenet

    state = build_imagenet(name).state_dict()
    assert list(state) == keys
    n_params = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var",
                                                                            "num_batches_tracked")))
    assert n_params == {"vgg16": 138_357_544, "vgg16_bn": 138_365_992, "resnet18": 11_689_512}[name]
    if name == "resnet18":
        assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1) and state["fc.weight"].shape == (1000, 512)
    else:
        assert state["classifier.0.weight"].shape == (4096, 25088)


def test_resnet18_loads_weights_from_a_file_and_gives_offline_advice(monkeypatch, tmp_path):
    from recollection.cnn.resnet import resnet18
    from recollection.errors import WeightsError

    torch.manual_seed(3)
    net = resnet18()
    path = tmp_path / "mine.pth"
    torch.save(net.state_dict(), path)
    info = load_model("resnet18", path)
    assert torch.equal(info.model.fc.weight, net.fc.weight) and info.size == 224 and len(info.classes) == 1000
    assert not info.model.training
    random = load_model("resnet18", random_init=True)
    assert random.weights.startswith("random") and not torch.equal(random.model.fc.weight, net.fc.weight)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsError) as info:
        load_model("resnet18", download_ok=False)
    message = str(info.value)
    assert "resnet18-f37072fd.pth" in message and "--weights" in message and str(tmp_path / "hub") in message
    with pytest.raises(WeightsError, match="does not fit ResNet"):
        load_model("resnet18", _alexnet_file(tmp_path))


def _alexnet_file(tmp_path):
    path = tmp_path / "alexnet.pth"
    torch.save(AlexNet().state_dict(), path)
    return path


def test_random_weight_controls_are_seeded_and_leave_the_global_rng_alone() -> None:
    import torch

    from recollection.cnn.models import load_model

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = load_model("digits", random_init=True).model.state_dict()
    after = torch.rand(3)
    second = load_model("digits", random_init=True).model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)  # the control is reproducible
    assert torch.equal(expected, after)  # ... and did not reseed the caller's generator
