"""The architecture as data (layer specs) and the one compiled integrate-and-fire step every engine shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recollection.errors import OptionError, RecollectionError
from recollection.snn import kernels
from recollection.snn.architecture import SPEC, Architecture, Conv, Pool
from recollection.snn.network import (
    CONV_SHAPES,
    FEATURE_THRESHOLDS,
    LEARNING_THRESHOLDS,
    NEVER,
    POOL_SHAPES,
    SpikingNetwork,
    Thresholds,
    load_weights,
    random_weights,
    save_weights,
)


def test_spec_is_the_published_network():
    """Naming spec §2, the table: kernels, maps, strides, both sets of thresholds, sizes."""
    assert CONV_SHAPES == ((5, 4), (17, 20), (5, 20)) and POOL_SHAPES == ((7, 6), (5, 5))
    assert [type(layer).__name__ for layer in SPEC.layers] == ["Conv", "Pool", "Conv", "Pool", "Conv"]
    assert [layer.inhibition for layer in SPEC.layers if isinstance(layer, Pool)] == [True, False]
    assert tuple(FEATURE_THRESHOLDS) == (10.0, 50.0, NEVER) == tuple(Thresholds())
    assert tuple(LEARNING_THRESHOLDS) == (10.0, 60.0, 2.0)
    assert SPEC.sizes(160, 250) == [(160, 250), (27, 42), (27, 42), (6, 9), (6, 9)]
    assert SPEC.weight_shapes() == [(4, 1, 5, 5), (20, 4, 17, 17), (20, 20, 5, 5)]
    assert [SPEC.fires_once(j) for j in range(4)] == [True, True, True, False]


def test_bad_architectures_and_threshold_counts_are_refused():
    with pytest.raises(OptionError, match="end with a conv"):
        Architecture((Conv(5, 4, 1.0, 1.0), Pool(3, 2, True)))
    with pytest.raises(OptionError, match="odd"):
        Architecture((Conv(4, 4, 1.0, 1.0),))
    with pytest.raises(OptionError, match="stride"):
        Architecture((Pool(3, 0, True), Conv(3, 4, 1.0, 1.0)))
    with pytest.raises(OptionError, match="at least one"):
        Architecture(())
    assert issubclass(OptionError, RecollectionError)  # a user mistake: one line from the CLI
    network = SpikingNetwork(seed=0)
    spikes = torch.zeros(1, 15, 1, 30, 30, dtype=torch.bool)
    with pytest.raises(OptionError, match="3 conv layers"):
        network(spikes, (7.0, 20.25))


def test_integrate_and_fire_by_hand():
    """The shared step: reset uses the previous V (strictly above threshold), the current is added and
    cleared, and the highest potential above threshold is returned (ties: every map holding it fires)."""
    th = np.float32(4.0)
    v = np.array([5.0, 1.0, 4.0], np.float32)  # map 0 was above threshold: it resets first
    current = np.array([1.0, 2.0, -0.5])
    assert kernels.integrate_and_fire(v, current, th) == np.float32(-np.inf)
    assert v.tolist() == [1.0, 3.0, 3.5] and not current.any()  # 4.0 is not above 4.0: no reset there
    current[:] = [3.5, 1.5, 0.5]
    assert kernels.integrate_and_fire(v, current, th) == np.float32(4.5)  # maps 0 and 1 tie; 4.0 is not above
    assert v.tolist() == [4.5, 4.5, 4.0]
    assert kernels.integrate_and_fire(v, current, th) == np.float32(-np.inf)
    assert v.tolist() == [0.0, 0.0, 4.0]  # no current: the two that fired reset


def test_fire_layer_blocks_a_position_once_it_fired():
    v = np.zeros((1, 2, 2), np.float32)
    current = np.array([[[3.0, 3.0], [1.0, 0.0]]])
    blocked = np.zeros((1, 2), bool)
    fired, top = np.empty(2, np.int64), np.empty(2, np.float32)
    assert kernels.fire_layer(current, v, blocked, np.float32(2.0), fired, top) == 1
    assert fired[0] == 0 and top[0] == 3.0 and blocked.tolist() == [[True, False]]
    current[:] = 5.0
    assert kernels.fire_layer(current, v, blocked, np.float32(2.0), fired, top) == 1  # only position 1 now
    assert fired[0] == 1 and v[0, 0].tolist() == [3.0, 3.0] and not current.any()


def test_save_weights_of_another_architecture(tmp_path):
    arch = Architecture((Conv(3, 2, 1.0, 1.0), Pool(3, 3, False), Conv(3, 5, 1.0, 1.0)))
    weights = random_weights(4, architecture=arch)
    assert [tuple(w.shape) for w in weights] == [(2, 1, 3, 3), (5, 2, 3, 3)]
    save_weights(weights, tmp_path, arch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weight_0.npy", "weight_1.npy", "weight_2.npy"]
    assert np.load(tmp_path / "weight_1.npy").shape == (3, 3, 2)
    np.testing.assert_array_equal(np.load(tmp_path / "weight_2.npy"), weights[1].numpy().transpose(2, 3, 1, 0))
    save_weights(random_weights(4), tmp_path / "spec")  # the spec's weights still round-trip
    assert all(torch.equal(a, b) for a, b in zip(load_weights(tmp_path / "spec"), random_weights(4)))
