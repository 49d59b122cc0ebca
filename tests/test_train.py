"""The training recipes: digits (a short run) and the ConvPool fine-tuning with resume."""

import json

import numpy as np
import torch
from PIL import Image

from recollection.cnn.train import ConvPoolRecipe, DigitsRecipe, train_convpool, train_digits, trainable_parameters
from recollection.cnn.alexnet import alexnet_convpool


def test_digits_recipe_learns_and_writes_its_card(tmp_path):
    card = train_digits(DigitsRecipe(epochs=2, seed=3), tmp_path / "d.pt")
    assert card["test_accuracy"] > 0.5  # chance is 0.1
    saved = json.loads((tmp_path / "d.json").read_text())
    assert saved["recipe"]["seed"] == 3 and saved["recipe"]["epochs"] == 2
    assert len(saved["history"]) == 2
    assert "model" in torch.load(tmp_path / "d.pt", weights_only=True)


def test_digits_recipe_is_reproducible(tmp_path):
    a = train_digits(DigitsRecipe(epochs=1, seed=5), tmp_path / "a.pt")
    b = train_digits(DigitsRecipe(epochs=1, seed=5), tmp_path / "b.pt")
    assert a["history"] == b["history"]


def test_gradual_unfreezing_grows():
    net = alexnet_convpool()
    sizes = [sum(p.numel() for p in trainable_parameters(net, s)) for s in range(3)]
    assert sizes[0] < sizes[1] < sizes[2] == sum(p.numel() for p in net.parameters())


def _image_folder(root, per_class=3):
    rng = np.random.default_rng(0)
    for cls in ("281", "tiger cat"):  # an ImageNetV2 index, and a class name
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_convpool_fine_tuning_checkpoints_and_resumes(tmp_path):
    data = _image_folder(tmp_path / "data")
    recipe = ConvPoolRecipe(data=str(data), epochs_per_stage=(1, 1, 0), batch_size=2, random_init=True, limit=2)
    card = train_convpool(recipe, tmp_path / "run")
    assert [h["stage"] for h in card["history"]] == ["pool-convs", "convs"]
    assert (tmp_path / "run" / "convpool.pt").exists() and (tmp_path / "run" / "checkpoint.pt").exists()
    # resume with one more classifier epoch: earlier epochs are not redone
    longer = ConvPoolRecipe(**{**recipe.__dict__, "epochs_per_stage": (1, 1, 1)})
    card2 = train_convpool(longer, tmp_path / "run", resume=True)
    assert [h["stage"] for h in card2["history"]] == ["pool-convs", "convs", "classifier"]
    assert card2["history"][:2] == card["history"]
    first = torch.load(tmp_path / "run" / "convpool.pt", weights_only=True)["model"]
    assert "features.2.weight" in first
