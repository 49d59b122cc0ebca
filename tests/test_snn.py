"""The spiking network: encoding, the time-vectorised layers against a step-by-step reference, weights I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import correlate
from skimage.data import lfw_subset

from recollection.errors import WeightsError
from recollection.snn.encoding import NO_SPIKE, DoGEncoder, dog_kernel, spike_train
from recollection.snn.network import (
    Thresholds, SpikingNetwork, first_spikes, load_weights, output_size, random_weights, save_weights)


def lfw_image(i: int) -> Image.Image:
    return Image.fromarray((lfw_subset()[i] * 255).astype(np.uint8))


def test_dog_kernel_is_zero_mean_with_unit_peak_at_the_centre():
    g = dog_kernel()
    assert g.shape == (7, 7)
    assert abs(g.mean()) < 1e-12
    assert g.max() == pytest.approx(1.0) and g[3, 3] == g.max()
    assert np.allclose(g, g.T) and np.allclose(g, g[::-1, ::-1])


def test_latency_code_ranks_strongest_first_and_spans_nine_steps():
    enc = DoGEncoder()
    dog = enc.dog(enc.grey(lfw_image(0)))
    times = enc.latencies(dog)
    kept = dog > 0
    assert np.array_equal(times != NO_SPIKE, kept)
    assert times[kept].min() == 0 and times[kept].max() == enc.latency_steps
    strongest = np.unravel_index(np.argmax(dog), dog.shape)
    assert times[strongest] == 0
    order = np.argsort(-dog[kept], kind="stable")
    assert np.all(np.diff(times[kept][order].astype(int)) >= 0)  # weaker never fires earlier
    assert np.all(dog[kept] >= enc.threshold)
    assert not kept[:5].any() and not kept[:, -5:].any()


def test_spike_train_fires_each_pixel_once_at_its_time():
    times = torch.tensor([[0, 3, NO_SPIKE], [9, 1, 0]], dtype=torch.uint8)
    s = spike_train(times, 15)
    assert s.shape == (15, 1, 2, 3)
    assert s.sum() == 5
    assert s[3, 0, 0, 1] and s[9, 0, 1, 0] and not s[:, 0, 0, 2].any()


def reference_forward(weights, times: np.ndarray, th: Thresholds, steps: int = 15) -> np.ndarray:
    """Step by step, as the research code: each step, each layer reads the previous layer's spikes of
    the step before; float64 sums; per-position inhibition with a block mask."""
    s_in = np.zeros((steps,) + times.shape, bool)
    for t in range(steps):
        s_in[t] = times == t
    w = [x.double().numpy() for x in weights]
    shapes = [(4, 160, 250), (4, 27, 42), (20, 27, 42), (20, 6, 9), (20, 6, 9)]
    S = [s_in[:, None]] + [np.zeros((steps,) + sh, bool) for sh in shapes]
    V = {1: np.zeros((steps,) + shapes[0], np.float32), 3: np.zeros((steps,) + shapes[2], np.float32),
         5: np.zeros((steps,) + shapes[4], np.float32)}
    block = {1: np.ones(shapes[0][1:], bool), 2: np.ones(shapes[1][1:], bool), 3: np.ones(shapes[2][1:], bool)}
    thr = {1: th.conv1, 3: th.conv2, 5: th.conv3}
    pools = {2: (7, 6), 4: (5, 5)}
    for t in range(1, steps):
        for layer in range(1, 6):
            prev = S[layer - 1][t - 1].astype(np.float64)
            if layer in thr:
                kern = w[layer // 2]
                cur = np.stack([sum(correlate(prev[c], kern[m, c], mode="constant") for c in range(prev.shape[0]))
                                for m in range(kern.shape[0])])
                v = V[layer][t - 1].copy()
                v[v > thr[layer]] = 0
                v = (v.astype(np.float64) + cur).astype(np.float32)
                V[layer][t] = v
                fire = v > thr[layer]
                if layer in block:
                    masked = np.where(fire, v, -np.inf)
                    fire &= v == masked.max(0, keepdims=True)
                    fire &= block[layer][None]
                    block[layer] &= ~fire.any(0)
                S[layer][t] = fire
            else:
                k, st = pools[layer]
                pad = k // 2
                padded = np.pad(prev, ((0, 0), (pad, pad), (pad, pad)))
                out = np.zeros(shapes[layer - 1], bool)
                for i in range(out.shape[1]):
                    for j in range(out.shape[2]):
                        out[:, i, j] = padded[:, i * st:i * st + k, j * st:j * st + k].any(axis=(1, 2))
                if layer in block:
                    out &= block[layer][None]
                    block[layer] &= ~out.any(0)
                S[layer][t] = out
    return V[5]


@pytest.mark.parametrize("seed,th", [(0, Thresholds(6.0, 12.0)), (1, Thresholds(4.0, 9.5))])
def test_vectorised_network_equals_the_step_by_step_reference(seed, th):
    weights = random_weights(seed, mean=0.5, std=0.25)
    net = SpikingNetwork(weights)
    enc = DoGEncoder()
    times = np.stack([enc(lfw_image(i)) for i in (0, 150)])
    got = net(spike_train(torch.from_numpy(times), 15), th).potentials.numpy()
    for b in range(2):
        want = reference_forward(weights, times[b], th)
        assert np.array_equal(got[b], want)
    assert got.max() > 0  # the test would be vacuous if nothing reached conv3


def test_inhibition_keeps_ties_and_blocks_later_spikes():
    cand = torch.zeros(1, 3, 2, 1, 1, dtype=torch.bool)
    v = torch.zeros(1, 3, 2, 1, 1)
    cand[0, 1, :, 0, 0] = True  # both maps cross at t = 1 with equal potential
    v[0, 1] = 5.0
    cand[0, 2, 0, 0, 0] = True  # and map 0 again at t = 2
    v[0, 2, 0] = 9.0
    s = first_spikes(cand, v)
    assert s[0, 1, :, 0, 0].all() and not s[0, 2].any()
    v[0, 1, 1] = 6.0  # now map 1 is higher: only it fires
    s = first_spikes(cand, v)
    assert s[0, 1, 1, 0, 0] and not s[0, 1, 0, 0, 0]


def test_weights_round_trip_and_bad_weights(tmp_path):
    weights = random_weights(3)
    save_weights(weights, tmp_path / "w")
    loaded = load_weights(tmp_path / "w")
    assert all(torch.equal(a, b) for a, b in zip(weights, loaded))
    assert np.load(tmp_path / "w" / "weight_2.npy").shape == (17, 17, 4, 20)
    with pytest.raises(WeightsError, match="missing"):
        load_weights(tmp_path)
    np.save(tmp_path / "w" / "weight_2.npy", np.zeros((5, 5, 4, 20), np.float32))
    with pytest.raises(WeightsError, match="shapes"):
        load_weights(tmp_path / "w")
    (tmp_path / "w" / "weight_0.npy").write_bytes(b"not numpy")
    with pytest.raises(WeightsError, match="readable"):
        load_weights(tmp_path / "w")


def test_output_size_matches_the_spec():
    assert output_size() == (6, 9)
    net = SpikingNetwork(seed=0)
    times = np.full((1, 160, 250), NO_SPIKE, np.uint8)
    assert net(spike_train(torch.from_numpy(times), 15)).potentials.shape == (1, 15, 20, 6, 9)
