"""The event-driven spiking network (``recollection.snn.events``) against the dense reference
(``SpikingNetwork.forward``): the potentials must agree bit for bit, and so must every layer's spikes.

The first call compiles the numba kernels (cached in ``__pycache__`` afterwards)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from conftest import shared_path
from recollection.snn.architecture import Architecture, Conv, Pool
from recollection.snn.encoding import NO_SPIKE, DoGEncoder, spike_train
from recollection.snn.events import dense_spikes, forward_events, run_events
from recollection.snn.network import (
    FEATURE_THRESHOLDS,
    LEARNING_THRESHOLDS,
    SpikingNetwork,
    Thresholds,
    conv_increments,
    load_weights,
    output_size,
    random_weights,
)


def _synthetic_times(n: int, height: int, width: int, seed: int, steps: int = 15) -> np.ndarray:
    """Spike-time maps of random smooth pictures, encoded like images (so that spikes cluster on
    edges and reach the deep layers), with 1 % of the pixels moved to the last steps or later."""
    rng = np.random.default_rng(seed)
    encoder = DoGEncoder(width=width, height=height)
    maps = []
    for _ in range(n):
        grey = gaussian_filter(rng.normal(size=(height, width)), 1.5)
        grey = (grey - grey.min()) / (grey.max() - grey.min()) * 255
        maps.append(encoder.latencies(encoder.dog(grey)))
    times = np.stack(maps)
    late = rng.random(times.shape) < 0.01
    times[late] = rng.choice([steps - 2, steps - 1, steps, 200], late.sum())
    return times


def _wide_weights(seed: int) -> list[torch.Tensor]:
    """Weights like trained ones: most near 0 or 1, many tiny (down to float32's denormals), so that
    float64 sums of them are inexact and their order matters."""
    gen = np.random.default_rng(seed)
    weights = []
    for w in random_weights(seed):
        a = w.numpy().astype(np.float64)
        tiny = gen.random(a.shape) < 0.25
        a[tiny] = 10.0 ** gen.uniform(-44, -2, tiny.sum())
        weights.append(torch.from_numpy(a.astype(np.float32)))
    return weights


def _dense(network: SpikingNetwork, times: np.ndarray, thresholds: Thresholds, steps: int = 15):
    return network(spike_train(torch.from_numpy(times), steps), thresholds, record=True)


def _assert_identical(network: SpikingNetwork, times: np.ndarray, thresholds: Thresholds, steps: int = 15) -> list[int]:
    reference = _dense(network, times, thresholds, steps)
    activity = run_events(network, times, thresholds, steps, record=True)
    expected = reference.potentials.numpy()
    assert activity.potentials.dtype == np.float32 and activity.potentials.shape == expected.shape
    assert np.array_equal(activity.potentials.view(np.uint32), expected.view(np.uint32)), (
        f"max |difference| {np.abs(activity.potentials - expected).max()}")
    for name, ours, theirs in zip(["input", "conv1", "pool1", "conv2", "pool2"], dense_spikes(activity, times),
                                  reference.spikes):
        assert np.array_equal(ours, theirs.numpy()), f"{name} spikes differ"
    assert np.array_equal(forward_events(network, times, thresholds, steps, workers=1), expected)
    return [int(s.sum()) for s in reference.spikes]


@pytest.mark.parametrize("thresholds", [FEATURE_THRESHOLDS, Thresholds(7.0, 20.25, 1e5), LEARNING_THRESHOLDS])
@pytest.mark.parametrize("weights", ["random", "wide"])
def test_synthetic_maps_bit_identical(weights, thresholds):
    network = SpikingNetwork(None if weights == "random" else _wide_weights(3), seed=7)
    times = _synthetic_times(3, 64, 100, seed=11)
    counts = _assert_identical(network, times, thresholds)
    assert all(c > 0 for c in counts), f"some layer never fired: {counts}"  # the test is not vacuous


def test_wide_weights_make_the_order_of_sums_matter():
    """With such weights another order of the float64 sums (here: map by map) changes conv2's input
    currents, so the bit-for-bit tests above do check that the order is torch's."""
    network = SpikingNetwork(_wide_weights(3))
    pool1 = _dense(network, _synthetic_times(3, 64, 100, seed=11), FEATURE_THRESHOLDS).spikes[2]
    reference = conv_increments(pool1, network.w2)
    by_map = sum(conv_increments(pool1[:, :, c : c + 1], network.w2[:, c : c + 1]) for c in range(pool1.shape[2]))
    assert torch.allclose(reference, by_map, rtol=1e-12, atol=0)
    assert (reference != by_map).sum() > 100


def test_time_steps_thresholds_and_sizes():
    network = SpikingNetwork(_wide_weights(5))
    # another number of steps (times 8 … 9 and 255 are then silent), an odd size, several workers
    times = _synthetic_times(5, 41, 57, seed=2, steps=8)
    _assert_identical(network, times, Thresholds(4.0, 9.5, 3.0), steps=8)
    # thresholds not representable in float32 are compared in float32, as torch does
    _assert_identical(network, times, Thresholds(0.1, 0.7, 0.3), steps=8)
    # a negative threshold: every neuron starts above it (all fire at step 0)
    _assert_identical(network, times[:1], Thresholds(-1.0, 30.0, -0.5), steps=8)
    # no spikes at all, and a single step
    silent = np.full((2, 30, 30), NO_SPIKE, np.uint8)
    _assert_identical(network, silent, FEATURE_THRESHOLDS)
    _assert_identical(network, times[:2], FEATURE_THRESHOLDS, steps=1)


def test_chunks_and_threads_do_not_matter():
    network = SpikingNetwork(seed=1)
    times = _synthetic_times(7, 50, 60, seed=4)
    one = run_events(network, times, FEATURE_THRESHOLDS, workers=1, chunk=7).potentials
    many = run_events(network, times, FEATURE_THRESHOLDS, workers=3, chunk=2).potentials
    assert np.array_equal(one, many)
    assert run_events(network, times[:0]).potentials.shape == (0, 15, 20) + output_size(50, 60)


def test_bad_input():
    network = SpikingNetwork(seed=0)
    with pytest.raises(ValueError, match="N, H, W"):
        forward_events(network, np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        forward_events(network, np.zeros((1, 10, 10), np.float32))
    with pytest.raises(ValueError, match="time_steps"):
        forward_events(network, np.zeros((1, 10, 10), np.uint8), time_steps=256)
    with pytest.raises(ValueError, match="record"):
        dense_spikes(run_events(network, np.zeros((1, 10, 10), np.uint8)), np.zeros((1, 10, 10), np.uint8))


@pytest.mark.parametrize("thresholds", [FEATURE_THRESHOLDS, Thresholds(7.0, 20.25, 1e5)])
def test_caltech_images_bit_identical(thresholds):
    root = shared_path("data", "caltech_face_motor")
    network = SpikingNetwork(load_weights(shared_path("data", "sdnn_weights", "run61")))
    files = [sorted((root / split / cls).glob("*.jpg"))[i] for split in ("TrainingSet", "TestingSet")
             for cls in ("Face", "Motor") for i in (0, 17)]
    encoder = DoGEncoder()
    files = files[0:6:2] if thresholds == FEATURE_THRESHOLDS else files[3:8:2]  # 3 images each
    times = np.stack([encoder(f) for f in files])
    counts = _assert_identical(network, times, thresholds)
    assert counts[3] > 0 and counts[4] > 0


OTHER_ARCHITECTURES = {  # (architecture, thresholds): the engines walk any stack of layer specs
    "four convs, conv after conv, pools with and without inhibition": (Architecture((
        Conv(3, 3, 1.0, 1.0), Pool(3, 2, inhibition=False), Conv(5, 4, 3.0, 3.0), Conv(3, 3, 2.0, 2.0),
        Pool(3, 1, inhibition=True), Conv(3, 2, 1.0, 1e5))), (1.0, 3.0, 2.0, 1e5)),
    "a pool first": (Architecture((Pool(3, 2, inhibition=True), Conv(5, 3, 1.0, 4.0))), (4.0,)),
    "a single conv layer": (Architecture((Conv(5, 2, 1.0, 3.0),)), (3.0,)),
}


@pytest.mark.parametrize("name", OTHER_ARCHITECTURES)
def test_other_architectures_bit_identical(name):
    architecture, thresholds = OTHER_ARCHITECTURES[name]
    network = SpikingNetwork(random_weights(1, mean=0.5, std=0.25, architecture=architecture),
                             architecture=architecture)
    times = _synthetic_times(3, 40, 52, seed=5)
    reference = _dense(network, times, thresholds)
    activity = run_events(network, times, thresholds, record=True)
    expected = reference.potentials.numpy()
    assert np.array_equal(activity.potentials.view(np.uint32), expected.view(np.uint32))
    ours = dense_spikes(activity, times)
    assert len(ours) == len(reference.spikes) == len(architecture.layers)
    for j, (a, b) in enumerate(zip(ours, reference.spikes)):
        assert np.array_equal(a, b.numpy()), f"layer {j - 1} spikes differ"
        assert b.any(), f"layer {j - 1} never fired"  # the test is not vacuous
    assert expected.max() > 0


def test_stop_and_record_a_subset_of_layers():
    network = SpikingNetwork(_wide_weights(2))
    times = _synthetic_times(3, 64, 100, seed=11)
    reference = _dense(network, times, LEARNING_THRESHOLDS).spikes
    activity = run_events(network, times, LEARNING_THRESHOLDS, record=[1], stop=2)  # conv1, pool1; keep pool1
    assert activity.potentials is None and activity.spikes[0] is None
    assert activity.spikes[1].dtype == np.uint8 and activity.spikes[1].shape == (3, 4, 11, 17)
    steps = np.arange(15).reshape(1, 15, 1, 1, 1)
    assert np.array_equal(activity.spikes[1][:, None] == steps, reference[2].numpy())
    pool2 = run_events(network, times, LEARNING_THRESHOLDS, record=[3], stop=4).spikes[3]
    assert pool2.dtype == bool and np.array_equal(pool2, reference[4].numpy())  # pool2 fires repeatedly
    with pytest.raises(ValueError, match="stop"):
        run_events(network, times, stop=6)
    with pytest.raises(ValueError, match="record"):
        run_events(network, times, record=[4])
    with pytest.raises(ValueError, match="record"):
        run_events(network, times, record=[2], stop=2)
