"""The vectorised backward steps against plain loops (the research code's semantics) and
against the forward ops they transpose (adjoint identity ⟨A x, y⟩ = ⟨x, Aᵀ y⟩)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from recollection.errors import ModelError
from recollection.retrace import steps as S

TOL = 1e-10


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_rng(seed), dtype=torch.float64)


def _conv(cin: int, cout: int, k, s, p, d=1, groups: int = 1, seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=groups, bias=False).double().requires_grad_(False)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)


# --------------------------------------------------------------------------------------
# Naive loops, written the way the research code computed each backward step
# --------------------------------------------------------------------------------------

def naive_conv_backward(a: np.ndarray, w: np.ndarray, stride: int, pad: int, in_hw) -> np.ndarray:
    """Scatter W[c]·a[c, i, j] into a padded canvas for every (c, i, j), then crop the padding."""
    n, c_out, h_out, w_out = a.shape
    _, c_in, kh, kw = w.shape
    h_in, w_in = in_hw
    out = np.zeros((n, c_in, h_in, w_in))
    for b in range(n):
        canvas = np.zeros((c_in, h_in + 2 * pad + kh, w_in + 2 * pad + kw))
        for c in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    canvas[:, i * stride:i * stride + kh, j * stride:j * stride + kw] += w[c] * a[b, c, i, j]
        out[b] = canvas[:, pad:pad + h_in, pad:pad + w_in]
    return out


def naive_linear_backward(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    n, n_out = y.shape
    x = np.zeros((n, w.shape[1]))
    for b in range(n):
        for o in range(n_out):
            x[b] += y[b, o] * w[o]
    return x


def naive_unpool_switches(a: np.ndarray, idx: np.ndarray, in_hw) -> np.ndarray:
    n, c, ho, wo = a.shape
    out = np.zeros((n, c, in_hw[0] * in_hw[1]))
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    out[b, ch, idx[b, ch, i, j]] += a[b, ch, i, j]
    return out.reshape(n, c, *in_hw)


def naive_unpool_distribute(a: np.ndarray, k: int, s: int, p: int, d: int, in_hw) -> np.ndarray:
    """Copy every value to each in-bounds position of its window; overlaps add up."""
    n, c, ho, wo = a.shape
    out = np.zeros((n, c, *in_hw))
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    for u in range(k):
                        for v in range(k):
                            r, q = i * s - p + u * d, j * s - p + v * d
                            if 0 <= r < in_hw[0] and 0 <= q < in_hw[1]:
                                out[b, ch, r, q] += a[b, ch, i, j]
    return out


# --------------------------------------------------------------------------------------
# 1. Loops vs vectorised steps
# --------------------------------------------------------------------------------------

CONV_CASES = [
    # (c_in, c_out, H, W, k, stride, padding)
    (3, 4, 68, 68, 11, 4, 2),  # AlexNet conv1 geometry; output_padding (1, 1)
    (3, 2, 224, 224, 11, 4, 2),  # AlexNet conv1 at its real size: 223 without output_padding
    (2, 3, 7, 9, 3, 1, 1),
    (2, 3, 8, 8, 3, 2, 0),
    (2, 2, 9, 10, 3, 2, 1),  # output_padding differs between H and W
    (3, 2, 10, 11, 5, 3, 2),
    (2, 3, 6, 6, 1, 1, 0),
    (2, 2, 13, 12, 2, 3, 1),
    (1, 2, 5, 5, 5, 1, 2),  # AlexNet conv2 geometry
]


@pytest.mark.parametrize("cin,cout,h,w,k,s,p", CONV_CASES)
def test_conv_backward_equals_the_scatter_loop(cin, cout, h, w, k, s, p):
    conv = _conv(cin, cout, k, s, p, seed=h + w + k)
    x_shape = (2, cin, h, w)
    h_out = (h + 2 * p - k) // s + 1
    w_out = (w + 2 * p - k) // s + 1
    y = _randn(2, cout, h_out, w_out, seed=k * 31 + s)
    got = S.conv_backward(y, conv, x_shape)
    want = naive_conv_backward(y.numpy(), conv.weight.detach().numpy(), s, p, (h, w))
    assert got.shape == x_shape
    np.testing.assert_allclose(got.numpy(), want, rtol=TOL, atol=TOL)


def test_conv1_geometry_needs_output_padding():
    """The cases above really exercise output_padding ≠ 0 (224 → 55 → 223 without it)."""
    assert S.output_padding((224, 224), (55, 55), 11, 4, 2, 1) == (1, 1)
    assert S.output_padding((68, 68), (16, 16), 11, 4, 2, 1) == (1, 1)
    assert S.output_padding((9, 10), (5, 5), 3, 2, 1, 1) == (0, 1)
    plain = F.conv_transpose2d(_randn(1, 4, 55, 55), _randn(4, 3, 11, 11), stride=4, padding=2)
    assert plain.shape[-2:] == (223, 223)


@pytest.mark.parametrize("groups,dilation", [(2, 1), (3, 2), (4, 1)])
def test_grouped_conv_backward_equals_autograd(groups, dilation):
    conv = _conv(12, 8 if groups != 3 else 6, 3, 2, 1, d=dilation, groups=groups, seed=groups)
    x = _randn(2, 12, 11, 10, seed=1).requires_grad_(True)
    out = conv(x)
    g = _randn(*out.shape, seed=2)
    out.backward(g)
    with torch.no_grad():
        got = S.conv_backward(g, conv, x.shape)
    torch.testing.assert_close(got, x.grad, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("in_shape", [(7,), (3, 2, 2)])
def test_linear_backward_equals_the_row_sum_loop(in_shape):
    features = int(np.prod(in_shape))
    w = _randn(5, features, seed=3)
    y = _randn(2, 5, seed=4)
    got = S.linear_backward(y, w, (2, *in_shape))
    want = naive_linear_backward(y.numpy(), w.numpy()).reshape(2, *in_shape)
    assert got.shape == (2, *in_shape)
    np.testing.assert_allclose(got.numpy(), want, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("k,s,p,hw,ceil", [(3, 2, 0, (15, 13), False), (3, 2, 1, (9, 9), False),
                                           (2, 2, 0, (8, 7), False), (3, 2, 0, (14, 14), True),
                                           (3, 1, 1, (6, 5), False)])
def test_unpool_switches_sums_like_the_loop(k, s, p, hw, ceil):
    x = _randn(2, 3, *hw, seed=5)
    pooled, idx = F.max_pool2d(x, k, s, p, ceil_mode=ceil, return_indices=True)
    y = _randn(*pooled.shape, seed=6)
    got = S.unpool_switches(y, idx, x.shape)
    want = naive_unpool_switches(y.numpy(), idx.numpy(), hw)
    np.testing.assert_allclose(got.numpy(), want, rtol=TOL, atol=TOL)
    # overlapping windows (k > s) pick the same input twice: the sum is then not what
    # max_unpool2d (which overwrites) gives, and the total mass is always preserved
    assert _close(got.sum().item(), y.sum().item())
    if k > s and not ceil:
        flat = idx.flatten(2)
        assert any(len(set(row.tolist())) < row.numel() for row in flat.reshape(-1, flat.shape[-1]))
        overwritten = F.max_unpool2d(y, idx, k, s, p, output_size=hw)
        assert not torch.allclose(got, overwritten)


@pytest.mark.parametrize("k,s,p,d,hw,ceil", [(3, 2, 0, 1, (15, 13), False), (3, 2, 1, 1, (9, 8), False),
                                             (2, 2, 0, 1, (7, 7), False), (3, 2, 0, 1, (14, 12), True),
                                             (3, 3, 1, 1, (10, 11), True), (2, 1, 0, 2, (7, 6), False),
                                             (3, 2, 1, 2, (11, 9), False)])
def test_unpool_distribute_copies_into_every_window_position(k, s, p, d, hw, ceil):
    pool = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
    x = _randn(2, 3, *hw, seed=7)
    out_hw = pool(x).shape[-2:]
    y = _randn(2, 3, *out_hw, seed=8)
    got = S.unpool_distribute(y, pool, x.shape)
    want = naive_unpool_distribute(y.numpy(), k, s, p, d, hw)
    assert got.shape == x.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("in_hw,out_hw", [((15, 13), (7, 6)), ((55, 55), (27, 27)), ((13, 13), (6, 6)),
                                          ((8, 8), (4, 4)), ((5, 7), (2, 3))])
def test_unpool_upsample_is_exact_size_nearest(in_hw, out_hw):
    y = _randn(2, 3, *out_hw, seed=9)
    got = S.unpool_upsample(y, (2, 3, *in_hw))
    assert tuple(got.shape) == (2, 3, *in_hw)
    for r in range(in_hw[0]):
        for q in range(in_hw[1]):
            src_r = min(r * out_hw[0] // in_hw[0], out_hw[0] - 1)
            src_q = min(q * out_hw[1] // in_hw[1], out_hw[1] - 1)
            # "nearest": the source cell under this pixel's top-left corner; for an exact ×2, r // 2
            if in_hw[0] == 2 * out_hw[0]:
                assert src_r == r // 2
            assert torch.equal(got[:, :, r, q], y[:, :, src_r, src_q])
    # every source value is used, none is invented
    assert set(got.unique().tolist()) == set(y.unique().tolist())


# --------------------------------------------------------------------------------------
# Random unpool
# --------------------------------------------------------------------------------------

RANDOM_POOLS = [(3, 2, 0, 1, (15, 13), False), (3, 2, 1, 1, (9, 9), False), (2, 2, 0, 1, (8, 8), False),
                (3, 2, 0, 1, (14, 12), True), (3, 3, 1, 1, (10, 10), True)]


@pytest.mark.parametrize("k,s,p,d,hw,ceil", RANDOM_POOLS)
def test_unpool_random_lands_inside_its_own_window(k, s, p, d, hw, ceil):
    pool = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
    ho, wo = pool(torch.zeros(1, 1, *hw)).shape[-2:]
    # one image per output position, holding a single non-zero value at that position
    n = ho * wo
    y = torch.zeros(n, 2, ho, wo, dtype=torch.float64)
    for b in range(n):
        y[b, :, b // wo, b % wo] = torch.tensor([2.0 + b, -1.0 - b], dtype=torch.float64)
    for seed in range(3):
        out = S.unpool_random(y, pool, (n, 2, *hw), _rng(seed))
        assert out.shape == (n, 2, *hw)
        for b in range(n):
            i, j = b // wo, b % wo
            rows = [i * s - p + u * d for u in range(k)]
            cols = [j * s - p + v * d for v in range(k)]
            rows = [r for r in rows if 0 <= r < hw[0]]
            cols = [c for c in cols if 0 <= c < hw[1]]
            for ch in range(2):
                nz = out[b, ch].nonzero().tolist()
                assert len(nz) == 1, (b, ch, nz)
                r, c = nz[0]
                assert r in rows and c in cols, (i, j, r, c)
                assert out[b, ch, r, c].item() == y[b, ch, i, j].item()


def test_unpool_random_preserves_mass_and_is_seeded():
    pool = nn.MaxPool2d(3, 2)
    y = _randn(2, 4, 7, 7, seed=10)
    shape = (2, 4, 15, 15)
    a = S.unpool_random(y, pool, shape, _rng(1))
    b = S.unpool_random(y, pool, shape, _rng(1))
    c = S.unpool_random(y, pool, shape, _rng(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    for out in (a, c):
        torch.testing.assert_close(out.sum(dim=(2, 3)), y.sum(dim=(2, 3)), rtol=TOL, atol=TOL)
    # the positions are random: not always the window's first position, nor the switches
    first = S.unpool_random(y, nn.MaxPool2d(1, 2), shape, _rng(1))  # k=1: only one position
    assert not torch.equal(a, first)


# --------------------------------------------------------------------------------------
# Adaptive average pool and the conv helpers
# --------------------------------------------------------------------------------------

def test_adaptive_avgpool_backward_identity_at_the_pooled_size():
    y = _randn(2, 3, 6, 6, seed=11)
    assert torch.equal(S.adaptive_avgpool_backward(y, (2, 3, 6, 6)), y)


def test_adaptive_avgpool_backward_spreads_evenly():
    y = _randn(1, 2, 1, 1, seed=12)
    out = S.adaptive_avgpool_backward(y, (1, 2, 3, 4))
    torch.testing.assert_close(out, y.expand(1, 2, 3, 4) / 12.0, rtol=TOL, atol=TOL)


def test_conv_padding_strings_and_unsupported_convs():
    assert S.conv_padding(nn.Conv2d(1, 1, 3, padding="valid")) == (0, 0)
    assert S.conv_padding(nn.Conv2d(1, 1, (3, 5), padding="same")) == (1, 2)
    assert S.conv_padding(nn.Conv2d(1, 1, 3, padding="same", dilation=2)) == (2, 2)
    with pytest.raises(ModelError):
        S.conv_padding(nn.Conv2d(1, 1, 4, padding="same"))
    with pytest.raises(ModelError):
        S.conv_backward(torch.zeros(1, 1, 4, 4), nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), (1, 1, 4, 4))


def test_conv_backward_with_same_padding_equals_autograd():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, (3, 5), padding="same", bias=False).double()
    x = _randn(1, 2, 7, 8, seed=13).requires_grad_(True)
    out = conv(x)
    g = _randn(*out.shape, seed=14)
    out.backward(g)
    with torch.no_grad():
        torch.testing.assert_close(S.conv_backward(g, conv, x.shape), x.grad, rtol=TOL, atol=TOL)


# --------------------------------------------------------------------------------------
# 2. Adjoint identities with hypothesis
# --------------------------------------------------------------------------------------

def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


@st.composite
def conv_geometries(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 14))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 14))
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    return n, cin, cout, groups, (kh, kw), (sh, sw), (ph, pw), (dh, dw), (h, w), seed


@settings(max_examples=25, deadline=None)
@given(conv_geometries())
def test_conv_backward_is_the_adjoint_of_conv2d(geometry):
    n, cin, cout, groups, k, s, p, d, hw, seed = geometry
    conv = _conv(cin, cout, k, s, p, d=d, groups=groups, seed=seed % 1000)
    x = _randn(n, cin, *hw, seed=seed)
    ax = F.conv2d(x, conv.weight, stride=s, padding=p, dilation=d, groups=groups)
    y = _randn(*ax.shape, seed=seed + 1)
    aty = S.conv_backward(y, conv, x.shape)
    assert aty.shape == x.shape
    assert _close(_dot(ax, y), _dot(x, aty))


def test_conv_adjoint_strategy_reaches_output_padding():
    """The geometries drawn above need output_padding 0, 1 and 2, so the property covers all of them."""
    ops = {S.output_padding((h, h), ((h + 2 * p - d * (k - 1) - 1) // s + 1,) * 2, k, s, p, d)[0]
           for h in range(5, 14) for k in (1, 3, 5) for s in (1, 2, 3) for p in (0, 1, 2) for d in (1, 2)
           if h + 2 * p >= d * (k - 1) + 1}
    assert ops == {0, 1, 2}


@st.composite
def pool_geometries(draw, dilation=True, ceil=True):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    d = draw(st.integers(1, 2)) if dilation else 1
    c = draw(st.booleans()) if ceil else False
    h = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 13))
    w = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 13))
    seed = draw(st.integers(0, 2**31 - 1))
    return k, s, p, d, c, (h, w), seed


@settings(max_examples=25, deadline=None)
@given(pool_geometries())
def test_unpool_switches_is_the_adjoint_of_max_pool_with_fixed_switches(geometry):
    k, s, p, d, ceil, hw, seed = geometry
    x = _randn(2, 3, *hw, seed=seed)
    _, switches = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    # a window lying wholly in the padding has no switch (torch returns an invalid index)
    assume(0 <= int(switches.min()) and int(switches.max()) < hw[0] * hw[1])
    z = _randn(2, 3, *hw, seed=seed + 1)  # any input, pooled through the recorded switches
    az = z.flatten(2).gather(2, switches.flatten(2)).view(switches.shape)
    y = _randn(*switches.shape, seed=seed + 2)
    aty = S.unpool_switches(y, switches, z.shape)
    assert aty.shape == z.shape
    assert _close(_dot(az, y), _dot(z, aty))


@settings(max_examples=25, deadline=None)
@given(pool_geometries(dilation=False, ceil=False))
def test_unpool_distribute_is_the_adjoint_of_window_sum_pooling(geometry):
    k, s, p, _, _, hw, seed = geometry
    x = _randn(2, 3, *hw, seed=seed)
    ax = F.avg_pool2d(x, k, s, p, count_include_pad=True) * (k * k)
    y = _randn(*ax.shape, seed=seed + 1)
    aty = S.unpool_distribute(y, nn.MaxPool2d(k, s, p), x.shape)
    assert aty.shape == x.shape
    assert _close(_dot(ax, y), _dot(x, aty))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 13), st.integers(1, 13), st.integers(1, 7), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_adaptive_avgpool_backward_is_the_adjoint(h, w, oh, ow, seed):
    x = _randn(2, 3, h, w, seed=seed)
    ax = F.adaptive_avg_pool2d(x, (oh, ow))
    y = _randn(*ax.shape, seed=seed + 1)
    aty = S.adaptive_avgpool_backward(y, x.shape)
    assert aty.shape == x.shape
    assert _close(_dot(ax, y), _dot(x, aty))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 9),
       st.integers(0, 2**31 - 1))
def test_linear_backward_is_the_adjoint(n, in_shape, n_out, seed):
    features = int(np.prod(in_shape))
    w = _randn(n_out, features, seed=seed)
    x = _randn(n, *in_shape, seed=seed + 1)
    ax = F.linear(x.flatten(1), w)
    y = _randn(n, n_out, seed=seed + 2)
    aty = S.linear_backward(y, w, x.shape)
    assert aty.shape == x.shape
    assert _close(_dot(ax, y), _dot(x, aty))


def test_unpool_random_never_lands_outside_its_window_with_padding_and_dilation():
    pool = nn.MaxPool2d(3, stride=2, padding=1, dilation=2)
    shape = (1, 1, 9, 9)
    ho, wo = pool(torch.zeros(shape)).shape[-2:]
    for seed in range(10):
        for i in range(ho):
            for j in range(wo):
                y = torch.zeros(1, 1, ho, wo)
                y[0, 0, i, j] = 1.0
                r, c = S.unpool_random(y, pool, shape, torch.Generator().manual_seed(seed))[0, 0].nonzero()[0].tolist()
                assert r in {2 * i - 1 + 2 * t for t in range(3)} and c in {2 * j - 1 + 2 * t for t in range(3)}


# --------------------------------------------------------------------------------------
# 3. The rules of the graph ops (BatchNorm, add, cat, average pool, scale) are adjoints too,
#    and switches-overwrite is MaxUnpool2d
# --------------------------------------------------------------------------------------

def _rule(step, y):
    from recollection.retrace.backward import backward

    return backward(step, y, unpool=None)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_batchnorm_rule_is_the_adjoint_of_its_linear_part(n, c, hw, seed):
    from recollection.retrace.record import record

    bn = nn.BatchNorm2d(c).double().eval()
    g = _rng(seed)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(c, generator=g, dtype=torch.float64) + 0.1)
        bn.weight.copy_(torch.randn(c, generator=g, dtype=torch.float64))
        bn.bias.copy_(torch.randn(c, generator=g, dtype=torch.float64))
    x = _randn(n, c, hw, hw, seed=seed)
    [step] = record(bn, x).steps
    with torch.no_grad():
        ax = bn(x) - bn(torch.zeros_like(x))  # the linear part: biases are ignored, as everywhere
    y = _randn(*ax.shape, seed=seed + 1)
    [aty] = _rule(step, y)
    assert _close(_dot(ax, y), _dot(x, aty))


class _Residual(nn.Module):
    """x -> (conv(x) + x, 2·x − conv(x), cat(x, conv(x))) as one output: add, subtract, scale and cat at once."""

    def __init__(self, c: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False).double()

    def forward(self, x):
        h = self.conv(x)
        joined = torch.cat([h + x, 2 * x - h, x / 4], dim=1)
        return torch.cat([joined, h], 1)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 2), st.integers(1, 3), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_add_sub_scale_and_cat_walk_back_as_the_adjoint(n, c, hw, seed):
    from recollection.retrace.engine import Recollector

    model = _Residual(c, seed % 1000).eval()
    x = _randn(n, c, hw, hw, seed=seed)
    rec = Recollector(model, normalize=None, positivise=False, positivise_conv=False, rectify_input=False)
    trace = rec.perceive(x)
    assert {s.kind for s in trace.steps} >= {"add", "scale", "cat", "conv"}
    with torch.no_grad():
        ax = model(x)
    aty = rec.recall(trace, "last-layer").image  # walks back from y = A x
    assert _close(_dot(ax, ax), _dot(x, aty))


@settings(max_examples=25, deadline=None)
@given(pool_geometries(dilation=False), st.booleans(), st.integers(0, 2))
def test_avgpool_rule_is_the_adjoint_of_avg_pool2d(geometry, count_include_pad, divisor):
    from recollection.retrace.ops import PoolSpec

    k, s, p, _, ceil, hw, seed = geometry
    spec = PoolSpec(k, s, p, 1, ceil, count_include_pad, divisor or None)
    x = _randn(2, 3, *hw, seed=seed)
    ax = F.avg_pool2d(x, k, s, p, ceil, count_include_pad, divisor or None)
    y = _randn(*ax.shape, seed=seed + 1)
    aty = S.avgpool_backward(y, spec, x.shape)
    assert aty.shape == x.shape
    assert _close(_dot(ax, y), _dot(x, aty))


@pytest.mark.parametrize("hw,k,s,p", [((55, 55), 3, 2, 0), ((27, 27), 3, 2, 0), ((13, 13), 3, 2, 0), ((9, 8), 3, 2, 1),
                                      ((8, 8), 2, 2, 0)])
def test_unpool_overwrite_is_max_unpool2d(hw, k, s, p):
    """AlexNet's pools (55, 27, 13 px; 3×3 windows, stride 2) and others: the last write wins, as MaxUnpool2d."""
    x = _randn(2, 4, *hw, seed=sum(hw))
    pooled, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    y = _randn(*pooled.shape, seed=k + s)
    got = S.unpool_overwrite(y, idx, x.shape)
    assert torch.equal(got, F.max_unpool2d(y, idx, k, s, p, output_size=hw))
    if k > s:  # overlapping windows: not the sum of the switches' adjoint
        assert not torch.allclose(got, S.unpool_switches(y, idx, x.shape))
