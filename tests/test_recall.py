"""Spiking recall: the backward walk through the STDP network, its two flavours, cues, and the claims."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import shared_path
from recollection.snn.network import FEATURE_THRESHOLDS, SpikingNetwork, random_weights
from recollection.snn.recall import (SpikingRecall, cue_from_spikes, deconvolve, first_time, latency, name_signal,
                                     perceive_cue)


@pytest.fixture(scope="module")
def network():
    return SpikingNetwork(random_weights(0, mean=0.5, std=0.25))


def corner_signal() -> torch.Tensor:
    start = torch.zeros(20, 6, 9)
    start[:, 0, 0] = 1.0  # only the top-left conv3 position
    return start


@pytest.mark.parametrize("flavour", ["rate", "spikes"])
def test_recall_lands_where_the_conv3_activity_sits(network, flavour):
    out = SpikingRecall(network, flavour, footprint=False)(corner_signal())
    assert out.dog.shape == (160, 250) and out.image.shape == (160, 250)
    assert [n for n, _ in out.cascade] == ["name", "conv3", "pool2", "conv2", "pool1", "conv1"]
    ys, xs = np.nonzero(out.dog > 0.05 * out.dog.max())
    assert ys.mean() < 60 and xs.mean() < 90  # the top-left corner of the input, nowhere else
    assert out.dog.min() >= 0 and 0 <= out.image.min() and out.image.max() <= 1


def test_spike_flavour_fires_each_neuron_at_most_once_and_earliest_for_the_strongest():
    values = torch.tensor([[0.0, 5.0, 1.0], [3.0, -2.0, 4.0]])
    times = latency(values, steps=4, keep=1.0)
    assert times[0, 1] == 0 and times[0, 0] == 255 and times[1, 1] == 255  # zero / negative: silent
    assert times[0, 1] < times[1, 2] < times[1, 0] < times[0, 2]
    crossed = torch.tensor([[False, True], [True, True], [True, True]])
    assert first_time(crossed).tolist() == [1, 0]
    spikes = SpikingRecall(SpikingNetwork(random_weights(1)), "spikes", footprint=False)(corner_signal())
    assert spikes.times.shape == (160, 250) and (spikes.times < 255).any() and spikes.times.max() == 255


def test_a_cue_routes_activity_through_its_switches_and_only_where_it_fired(network):
    times = np.full((160, 250), 255, np.uint8)
    times[20:30, 30:40] = 0  # a small bright patch: the only thing perceived
    cue = perceive_cue(network, times, FEATURE_THRESHOLDS.__class__(2.0, 3.0, 1e5))
    assert cue.switches[0].shape == (4, 27, 42) and cue.fired[0].any() and not cue.fired[0].all()
    uniform = torch.ones(20, 6, 9)
    with_cue = SpikingRecall(network, "rate", "switches", footprint=False)(uniform, cue)
    spread = SpikingRecall(network, "rate", "spread", footprint=False)(uniform)
    ys, xs = np.nonzero(with_cue.dog > 0.05 * with_cue.dog.max())
    assert abs(ys.mean() - 25) < 25 and abs(xs.mean() - 35) < 30  # reinstated near the perceived patch
    assert (spread.dog > 0.05 * spread.dog.max()).mean() > 3 * (with_cue.dog > 0.05 * with_cue.dog.max()).mean()
    with pytest.raises(ValueError, match="needs a cue image"):
        SpikingRecall(network, "rate", "switches")(uniform)


def test_cue_switches_point_at_the_earliest_spike_of_each_window():
    spikes = torch.zeros(1, 15, 4, 160, 250, dtype=torch.bool)
    spikes[0, 5, 0, 10, 10] = True
    spikes[0, 2, 0, 11, 12] = True  # same pool1 window, earlier
    trail = [None, spikes, None, torch.zeros(1, 15, 20, 27, 42, dtype=torch.bool), None]
    cue = cue_from_spikes(trail)
    window = (10 + 3) // 6, (10 + 3) // 6
    assert cue.fired[0][0, window[0], window[1]] and int(cue.switches[0][0, window[0], window[1]]) == 11 * 250 + 12
    assert cue.fired[0].sum() == 1 and not cue.fired[1].any()


def test_deconvolution_undoes_the_dog_filter_on_a_band_limited_image():
    from scipy.ndimage import correlate

    from recollection.snn.encoding import dog_kernel

    rng = np.random.default_rng(0)
    image = np.zeros((160, 250))
    image[40:120, 60:190] = 1.0
    image += 0.1 * rng.standard_normal(image.shape)
    dog = correlate(image, dog_kernel(), mode="wrap")
    estimate = deconvolve(dog, regularisation=0.01)
    edges = lambda a: np.abs(np.gradient(a)[0]) + np.abs(np.gradient(a)[1])
    assert np.corrcoef(edges(estimate).ravel(), edges(image).ravel())[0, 1] > 0.5


def test_name_signal_keeps_what_this_name_learned_beyond_the_others():
    w = np.full((2, 1080), 0.5)
    w[0, :10] = 0.9
    w[1, 10:30] = 0.8
    s0, s1 = name_signal(w, 0), name_signal(w, 1)
    assert s0.shape == (20, 6, 9) and s0.flatten()[:10].min() > 0 and s0.flatten()[10:].max() == 0
    assert s1.flatten()[10:30].min() > 0 and s1.flatten()[:10].max() == 0


# --- the claims, on the shared data -------------------------------------------------------------------
@pytest.fixture(scope="module")
def caltech(tmp_path_factory):
    from recollection.naming.recall import setup

    root = shared_path("data", "caltech_face_motor", "TrainingSet").parents[1]
    return setup(root / "caltech_face_motor" / "TrainingSet", root / "caltech_face_motor" / "TestingSet",
                 shared_path("data", "sdnn_weights", "run61"), cache=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def mnist01(tmp_path_factory):
    from recollection.naming.recall import mnist_folders, setup

    mnist = shared_path("data", "mnist", "t10k-images-idx3-ubyte.gz").parent
    train, test = mnist_folders(tmp_path_factory.mktemp("mnist01"), mnist)
    return setup(train, test, shared_path("data", "sdnn_weights", "run61"), cache=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("data, rule", [("caltech", "paper"), ("mnist01", "corrected")])
@pytest.mark.parametrize("flavour", ["rate", "spikes"])
def test_each_name_recalls_its_own_class_and_is_named_as_it(data, rule, flavour, request):
    from recollection.naming.recall import recall_name, score, train_names

    s = request.getfixturevalue(data)
    names = train_names(s, "full", rule=rule)
    for c in range(2):
        scores = score(s, names, recall_name(s, names, c, flavour), c)
        assert scores["r_own"] > scores["r_other"], (s.classes[c], scores)
        assert scores["named_correctly"] == 1.0, (s.classes[c], scores)
