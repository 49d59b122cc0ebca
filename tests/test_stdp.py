"""STDP learning of the spiking network's conv layers (naming spec §3)."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from recollection.errors import OptionError, RecollectionError
from recollection.snn.architecture import Architecture, Conv, Pool
from recollection.snn.encoding import DoGEncoder
from recollection.snn.network import load_weights, random_weights
from recollection.snn.stdp import (
    StdpConfig,
    conv_spikes,
    layer_inputs,
    present,
    presentation_order,
    spike_time_maps,
    spikes_to_events,
    times_to_events,
    train_stdp,
)

SMALL = DoGEncoder(width=72, height=56)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """Spike-time maps (12, 56, 72) of scikit-image's LFW faces: every layer fires on them."""
    from skimage.data import lfw_subset

    images = lfw_subset()[:12]
    return np.stack([SMALL(Image.fromarray((f * 255).astype(np.uint8))) for f in images])


def reference_present(spikes, w, threshold, offset, winners, a_plus, a_minus):
    """The research code's per-step loop, written densely: (T, C, H, W) bool input spikes, weights
    (M, C, K, K) float32 (updated copy returned)."""
    w = w.clone()
    steps, _, h, wd = spikes.shape
    maps, k = w.shape[0], w.shape[-1]
    v = torch.zeros(maps, h, wd)
    blocked = torch.zeros(h, wd, dtype=torch.bool)
    k_stdp = np.ones((h, wd, maps), np.float32)
    for t in range(1, steps):
        cur = F.conv2d(spikes[t - 1].double()[None], w.double(), padding=k // 2)[0]
        v = torch.where(v > threshold, torch.zeros(()), v)
        v = (v.double() + cur).float()
        cand = v > threshold
        best = torch.where(cand, v, float("-inf")).amax(0)
        s = cand & (v == best) & ~blocked
        blocked |= s.any(0)
        valid = (s.float() * v).permute(1, 2, 0).numpy() * k_stdp  # (H, W, D) as in the research code
        if np.count_nonzero(valid) == 0:
            continue
        # get_STDP_idxs
        mxv, mxi = valid.max(axis=2), valid.argmax(axis=2)
        maxval, ind1, ind2 = -np.ones(maps), -np.ones(maps, int), -np.ones(maps, int)
        counter = 1
        while np.sum(mxv) != 0:
            if counter > winners:
                break
            counter += 1
            index1 = np.argmax(mxv.max(axis=1))
            index2 = np.argmax(mxv, axis=1)[index1]
            m = mxi[index1, index2]
            maxval[m], ind1[m], ind2[m] = mxv[index1, index2], index1, index2
            mxv[mxi == m] = 0
            rows = slice(max(index1 - offset, 0), min(index1 + offset, h) + 1)
            mxv[rows, max(index2 - offset, 0) : min(index2 + offset, wd) + 1] = 0
        # the STDP kernel, one winner after the other
        inputs = np.pad(spikes[:t].sum(0).numpy().astype(np.int64), ((0, 0), (k // 2, k // 2), (k // 2, k // 2)))
        wn = w.numpy()
        for m in range(maps):
            if ind1[m] < 0:
                continue
            near = (np.abs(ind1 - ind1[m]) <= offset) & (np.abs(ind2 - ind2[m]) <= offset) & (maxval > maxval[m])
            if near.any() or maxval[m] <= 0:
                continue
            r, c = ind1[m], ind2[m]
            n = inputs[:, r : r + k, c : c + k].astype(np.float64)
            old = wn[m].astype(np.float64)
            dw = n * a_minus * old * (1 - old) + n * a_plus * old * (1 - old) - a_minus * old * (1 - old)
            wn[m] = (old + dw).astype(np.float32)
            k_stdp[max(r - offset, 0) : r + offset + 1, max(c - offset, 0) : c + offset + 1, :] = 0
            k_stdp[:, :, m] = 0
    return w


@pytest.mark.parametrize("case", range(6))
def test_present_matches_the_dense_research_loop(case):
    rng = np.random.default_rng(case)
    chans, maps, k, h, wd = [(1, 4, 5, 20, 24), (3, 5, 5, 12, 16), (4, 6, 3, 10, 9)][case % 3]
    spikes = torch.from_numpy(rng.random((15, chans, h, wd)) < (0.06 if case < 3 else 0.2))
    if case % 2:  # a pool2-like input: neurons spike more than once
        spikes[5:9] |= spikes[2:6].clone()
    w = torch.from_numpy(np.clip(rng.normal(0.6, 0.2, (maps, chans, k, k)), 0.01, 0.99).astype(np.float32))
    threshold, offset, winners = [2.0, 3.0, 1.5][case % 3], [2, 1, 3][case % 3], [3, 4, 2][case % 3]
    a_plus, a_minus = (0.15, 0.1125) if case >= 3 else (0.004, 0.003)
    expected = reference_present(spikes, w, threshold, offset, winners, a_plus, a_minus)
    wt = np.ascontiguousarray(w.numpy().transpose(1, 2, 3, 0))
    updates = present(spikes_to_events(spikes.numpy()), wt, (h, wd), threshold, offset, winners, a_plus, a_minus)
    assert updates > 0
    assert torch.equal(torch.from_numpy(wt.transpose(3, 0, 1, 2)), expected)


def test_single_update_by_hand():
    """One input spike at step 0 under the centre of map 0's 3×3 kernel: only map 0 at (2, 2) crosses
    0.6 at t = 1; its centre weight gets +a⁺w(1−w), the rest −a⁻w(1−w); map 1 is untouched."""
    w = np.full((1, 3, 3, 2), 0.5, np.float32)
    w[..., 1] = 0.3
    w[0, 1, 1, 0] = 0.9
    times = np.full((5, 5), 255, np.uint8)
    times[2, 2] = 0
    before = w.copy()
    assert present(times_to_events(times, 15), w, (5, 5), 0.6, 1, 5, 0.004, 0.003) == 1
    expected = (0.5 - 0.003 * 0.25) * np.ones((3, 3))
    expected[1, 1] = 0.9 + 0.004 * 0.9 * 0.1
    np.testing.assert_array_equal(w[0, :, :, 0], expected.astype(np.float32))
    np.testing.assert_array_equal(w[..., 1], before[..., 1])


def test_input_spike_count_multiplies_the_update():
    """An input that spiked twice (steps 0 and 1) before the winner fired at t = 2 gets
    2a⁻b + 2a⁺b − a⁻b, b = w(1 − w)."""
    w = np.full((1, 3, 3, 1), 0.2, np.float32)
    w[0, 1, 1, 0] = 0.4
    spikes = np.zeros((15, 1, 5, 5), bool)
    spikes[0, 0, 2, 2] = spikes[1, 0, 2, 2] = True
    assert present(spikes_to_events(spikes), w, (5, 5), 0.6, 1, 5, 0.004, 0.003) == 1
    b = 0.4 * 0.6
    assert w[0, 1, 1, 0] == np.float32(0.4 + 2 * 0.003 * b + 2 * 0.004 * b - 0.003 * b)
    assert w[0, 0, 0, 0] == np.float32(0.2 - 0.003 * 0.2 * 0.8)


def test_rate_schedule():
    cfg = StdpConfig()
    for layer, (plus, minus) in enumerate(zip(cfg.a_plus, cfg.a_minus)):
        seen = []
        for i in range(cfg.presentations[layer]):
            plus, minus = cfg.next_rates(i, plus, minus)
            if i % 500 == 0:
                seen.append(plus)
                assert minus == 0.75 * plus
        start = cfg.a_plus[layer]
        assert seen == [min(start * 2 ** (j + 1), 0.15) for j in range(len(seen))]
        assert plus == 0.15 and minus == 0.75 * 0.15
    plus, minus = cfg.next_rates(1, 0.004, 0.003)
    assert (plus, minus) == (0.004, 0.003)


def test_event_inputs_equal_the_vectorised_network(faces):
    cfg = StdpConfig()
    for weights in (random_weights(3), train_stdp(faces, seed=1, presentations=(12, 12, 0))):
        for layer in (1, 2):
            a = layer_inputs(weights, faces, layer, cfg, range(4))
            b = layer_inputs(weights, faces, layer, cfg, range(4), engine="torch")
            for i in range(4):
                np.testing.assert_array_equal(a[i][0], b[i][0])
                np.testing.assert_array_equal(a[i][1], b[i][1])


def test_training_is_seeded_and_keeps_weights_in_the_unit_interval(faces):
    first = train_stdp(faces, seed=5, presentations=(12, 10, 10))
    again = train_stdp(faces, seed=5, presentations=(12, 10, 10))
    other = train_stdp(faces, seed=6, presentations=(12, 10, 10))
    init = random_weights(5)
    for a, b, c, w0 in zip(first, again, other, init):
        assert a.shape == w0.shape and a.dtype == torch.float32
        assert torch.equal(a, b)
        assert not torch.equal(a, c)
        assert not torch.equal(a, w0)  # every layer learned something
        assert (a > 0).all() and (a < 1).all()


def test_resume_is_bit_identical(faces, tmp_path):
    kwargs = {"seed": 2, "presentations": (9, 8, 7), "checkpoint_every": 4, "config": StdpConfig(shuffle=True)}
    reference = train_stdp(faces, **kwargs)

    class Stop(Exception):
        pass

    for stop_at in [(1, 5), (0, 9)]:  # mid conv2 (last checkpoint at 4), and right after conv1 ended
        ckpt = tmp_path / f"ckpt{stop_at[0]}"

        def interrupt(layer, done, total, stop_at=stop_at):
            if (layer, done) == stop_at:
                raise Stop

        with pytest.raises(Stop):
            train_stdp(faces, checkpoint_dir=ckpt, progress=interrupt, **kwargs)
        state = json.loads((ckpt / "latest.json").read_text())
        assert (state["layer"], state["done"]) == ((1, 4) if stop_at[0] == 1 else (0, 9))
        resumed = train_stdp(faces, checkpoint_dir=ckpt, resume=True, **kwargs)
        for a, b in zip(resumed, reference):
            assert torch.equal(a, b)
        final = json.loads((ckpt / "latest.json").read_text())
        assert final["layer"] == 3 and final["weights"].startswith("final")
        for a, b in zip(load_weights(ckpt / final["weights"]), reference):
            assert torch.equal(a, b)
        # the end of every layer stays, intermediate checkpoints go
        kept = sorted(p.name.rsplit("-", 1)[0] for p in ckpt.iterdir() if p.is_dir())
        assert kept == ["final", "layer1-000009", "layer2-000008", "layer3-000007"]
        # resuming a finished run returns its weights; another seed's run is refused
        again = train_stdp(faces, checkpoint_dir=ckpt, resume=True, **kwargs)
        assert all(torch.equal(a, b) for a, b in zip(again, reference))
        with pytest.raises(RecollectionError):
            train_stdp(faces, checkpoint_dir=ckpt, resume=True, **{**kwargs, "seed": 3})


def test_rates_in_checkpoint_follow_the_schedule(faces, tmp_path):
    cfg = StdpConfig(rate_every=3)
    train_stdp(faces, seed=0, presentations=(7, 0, 0), checkpoint_dir=tmp_path, config=cfg)
    state = json.loads((tmp_path / "latest.json").read_text())
    # doublings after presentations 0, 3, 6
    assert state["a_plus"][0] == pytest.approx(0.004 * 8) and state["a_minus"][0] == 0.75 * state["a_plus"][0]
    assert state["a_plus"][1:] == [0.0004, 0.0004]


def test_presentation_order():
    np.testing.assert_array_equal(presentation_order(7, 3, 0, 0, False), [0, 1, 2, 0, 1, 2, 0])
    shuffled = presentation_order(9, 3, 1, 4, True)
    for p in range(3):
        assert sorted(shuffled[3 * p : 3 * p + 3]) == [0, 1, 2]
    np.testing.assert_array_equal(shuffled, presentation_order(9, 3, 1, 4, True))
    assert not np.array_equal(presentation_order(30, 10, 1, 4, True), presentation_order(30, 10, 2, 4, True))


def test_image_folder_class_by_class(tmp_path, faces):
    from skimage.data import lfw_subset

    pictures = lfw_subset()[:4]
    for i, (cls, name) in enumerate([("b", "2.png"), ("a", "9.png"), ("a", "1.png"), ("b", "0.png")]):
        (tmp_path / cls).mkdir(exist_ok=True)
        Image.fromarray((pictures[i] * 255).astype(np.uint8)).save(tmp_path / cls / name)
    maps = spike_time_maps(tmp_path, SMALL)
    order = [tmp_path / "a" / "1.png", tmp_path / "a" / "9.png", tmp_path / "b" / "0.png", tmp_path / "b" / "2.png"]
    np.testing.assert_array_equal(maps, np.stack([SMALL(p) for p in order]))
    weights = train_stdp(tmp_path, seed=0, presentations=(4, 0, 0), encoder=SMALL)
    assert torch.equal(weights[0], train_stdp(maps, seed=0, presentations=(4, 0, 0))[0])


def test_conv_spikes_leave_weights_alone(faces):
    w = random_weights(0)[0].numpy().transpose(1, 2, 3, 0).copy()
    before = w.copy()
    out = conv_spikes(times_to_events(faces[0], 15), w, faces.shape[1:], 10.0)
    assert out.shape == (15, 4) + faces.shape[1:] and out.any()
    assert (out.sum(axis=(0, 1)) <= 4).all()
    np.testing.assert_array_equal(w, before)


def test_another_architecture_learns_layer_by_layer(faces):
    """STDP walks the same layer specs as the other engines: two conv layers, conv after conv."""
    arch = Architecture((Conv(3, 3, 2.0, 2.0), Pool(3, 2, inhibition=False), Conv(5, 4, 6.0, 6.0),
                         Conv(3, 3, 3.0, 1e5)))
    cfg = StdpConfig(presentations=(6, 6, 6), thresholds=(2.0, 6.0, 3.0), winners=(3, 2, 2), offsets=(2, 1, 1),
                     a_plus=(0.004,) * 3, a_minus=(0.003,) * 3)
    init = random_weights(2, architecture=arch)
    learned = train_stdp(faces, seed=2, config=cfg, architecture=arch)
    assert [w.shape for w in learned] == [w.shape for w in init]
    assert all(not torch.equal(a, b) for a, b in zip(learned, init))  # every layer learned something
    for layer in (1, 2):
        a = layer_inputs(learned, faces, layer, cfg, range(3), architecture=arch)
        b = layer_inputs(learned, faces, layer, cfg, range(3), engine="torch", architecture=arch)
        assert all(np.array_equal(a[i][k], b[i][k]) for i in range(3) for k in (0, 1))
        assert all(len(a[i][1]) for i in range(3))
    with pytest.raises(OptionError, match="3 conv layers"):
        train_stdp(faces, config=StdpConfig(), architecture=Architecture((Conv(3, 3, 2.0, 2.0),)))
    with pytest.raises(OptionError, match="checkpoints"):
        train_stdp(faces, config=cfg, architecture=arch, checkpoint_dir="unused")


def test_refusals():
    with pytest.raises(OptionError, match="one value per conv layer"):
        StdpConfig(winners=(10, 4))
    events = times_to_events(np.zeros((5, 5), np.uint8), 15)
    with pytest.raises(OptionError, match="threshold > 0"):
        present(events, np.full((1, 3, 3, 1), 0.5, np.float32), (5, 5), 0.0, 1, 5, 0.004, 0.003)
