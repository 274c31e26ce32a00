"""Relative position embedding of the view-2 queries (docs/method.md §1.5, §8) against hand-computed values and
against the pixel geometry of the pretraining transform."""
import math

import numpy as np
import pytest
import torch

from siameseim.pretrain.data.transforms import relative_position, sample_view_geometry
from siameseim.pretrain.models.relative_pos_embed import relative_query_coords, relative_query_pos_embed
from siameseim.layers import sincos_2d

G = 14


def hand_embedding(u: float, v: float, s_h: float, s_w: float, dim: int) -> torch.Tensor:
    """The eight sin/cos blocks of docs/method.md §1.5 for one query, written out with ``math``."""
    k = dim // 4
    omega = [10000**(-i / k) for i in range(k)]
    channels = []
    for p in (u, v, s_h, s_w):
        channels += [math.sin(p * w) for w in omega] + [math.cos(p * w) for w in omega]
    return torch.tensor(channels, dtype=torch.float64)


def embed(relpos, dim=64):
    return relative_query_pos_embed(torch.tensor([relpos], dtype=torch.float64), G, dim)[0]


@pytest.mark.parametrize('dim', [64, 768])
def test_identical_views_give_the_absolute_table_and_zero_scale(dim):
    out = relative_query_pos_embed(torch.tensor([[0, 0, 1, 1, 0, 0]] * 2, dtype=torch.float64), G, dim)
    assert out.shape == (2, G * G, 2 * dim) and out.dtype == torch.float32
    assert torch.equal(out[:, :, :dim], sincos_2d(dim, (G, G)).expand(2, -1, -1))
    quarter = dim // 4
    scale_half = torch.cat([torch.zeros(quarter), torch.ones(quarter)] * 2)
    assert torch.equal(out[:, :, dim:], scale_half.expand(2, G * G, -1))


def test_no_overlap_pair():
    # view 1 crop (i, j, h, w) = (0, 0, 100, 100); view 2 = (20, 150, 100, 50), entirely right of view 1
    relpos = (20 / 100, 150 / 100, 100 / 100, 50 / 100, 0.0, (400 - 0 - 150) / 100)
    out = embed(relpos)
    for r, c in [(3, 5), (0, 0), (13, 13)]:
        u = 1.0 * (r + 0.5) + 14 * 0.2 - 0.5            # r + 2.8
        v = 0.5 * (c + 0.5) + 14 * 1.5 - 0.5            # 0.5 c + 20.75: right of view 1's grid
        assert v >= 14
        expected = hand_embedding(u, v, 0.0, 10 * math.log(0.5), 64)
        torch.testing.assert_close(out[r * G + c].double(), expected, atol=3e-6, rtol=0)
    assert out[3 * G + 5, 32] == pytest.approx(math.sin(23.25), abs=2e-6)    # sin(v·ω_0), v = 23.25


def test_flipped_pair():
    # image width 200; view 1 (10, 20, 100, 80) unflipped, view 2 (30, 40, 50, 40) in the flipped image
    relpos = (20 / 100, 20 / 80, 50 / 100, 40 / 80, 1.0, (200 - 20 - 40) / 80)
    out = embed(relpos)
    r, c = 2, 3
    # view-2 patch centre: flipped-image column 40 + 3.5·40/14 = 50 -> original column 150
    # -> view-1 grid (150 − 20)/(80/14) − 0.5 = 22.25; rows: (30 + 2.5·50/14 − 10)/(100/14) − 0.5 = 3.55
    u, v = 3.55, 22.25
    assert u == pytest.approx(0.5 * (r + 0.5) + 14 * 0.2 - 0.5)
    assert v == pytest.approx(-0.5 * (c + 0.5) + 14 * 1.75 - 0.5)
    expected = hand_embedding(u, v, 10 * math.log(0.5), 10 * math.log(0.5), 64)
    torch.testing.assert_close(out[r * G + c].double(), expected, atol=3e-6, rtol=0)
    # the unflipped formula would put this query at v = 0.5·3.5 + 3.5 − 0.5 = 4.75: a different embedding
    unflipped = embed(relpos[:4] + (0.0, relpos[5]))
    assert (unflipped[r * G + c] - out[r * G + c]).abs().max() > 0.1


def test_scaled_pair():
    relpos = (0.0, 0.0, 2.0, 0.5, 0.0, 0.0)
    out = embed(relpos)
    for r, c in [(0, 0), (4, 9), (13, 1)]:
        u, v = 2 * r + 0.5, 0.5 * c - 0.25
        expected = hand_embedding(u, v, 10 * math.log(2), -10 * math.log(2), 64)
        torch.testing.assert_close(out[r * G + c].double(), expected, atol=3e-6, rtol=0)
    # channels 64 and 96 are sin(s_h·ω_0) and sin(s_w·ω_0), s_h = −s_w = 10 ln 2, the same for every query
    s = 10 * math.log(2)
    assert torch.allclose(out[:, 64], torch.tensor(math.sin(s)), atol=2e-6)
    assert torch.allclose(out[:, 96], torch.tensor(math.sin(-s)), atol=2e-6)


def test_tuple_is_cast_to_fp32_and_stays_out_of_autograd():
    relpos = torch.tensor([[0.1, -0.2, 1.3, 0.7, 1.0, 1.1]], dtype=torch.float64, requires_grad=True)
    out = relative_query_pos_embed(relpos, G, 32, device=torch.device('cpu'))
    assert out.dtype == torch.float32 and not out.requires_grad
    # float64 and fp32 tuples give the same embedding: everything is computed from the fp32 tuple
    torch.testing.assert_close(relative_query_pos_embed(relpos.detach().float(), G, 32), out, rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cpu_tuple_is_moved_to_the_device():
    relpos = torch.tensor([[0.1, -0.2, 1.3, 0.7, 1.0, 1.1]], dtype=torch.float64)
    out = relative_query_pos_embed(relpos, G, 32, device=torch.device('cuda'))
    assert out.is_cuda
    torch.testing.assert_close(out.cpu(), relative_query_pos_embed(relpos, G, 32), rtol=0, atol=1e-6)


def test_cpu_tuple_is_moved_to_another_device_without_a_gpu():
    """The GPU test's logic on the meta device: every field of a CPU float64 tuple follows ``device``."""
    relpos = torch.tensor([[0.1, -0.2, 1.3, 0.7, 1.0, 1.1]], dtype=torch.float64)
    out = relative_query_pos_embed(relpos, G, 32, device=torch.device('meta'))
    assert out.device.type == 'meta' and out.shape == (1, G * G, 64) and out.dtype == torch.float32


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r'\[B, 6\]'):
        relative_query_pos_embed(torch.zeros(2, 5), G, 64)
    with pytest.raises(ValueError, match='divisible by 4'):
        relative_query_pos_embed(torch.tensor([[0, 0, 1, 1, 0, 0.0]]), G, 66)


def view1_grid_coords_by_pixel_mapping(v1, v2, width: int) -> np.ndarray:
    """View-1 continuous patch coordinates ``[g, g, 2]`` of view 2's patch centres, by mapping pixels:
    view-2 output -> (flipped) image -> original image -> view 1's (flipped) image -> view-1 patch grid."""
    centres = np.arange(G) + 0.5
    y = v2.i + centres * v2.h / G                 # rows are never flipped
    x = v2.j + centres * v2.w / G                 # in view 2's (possibly flipped) image
    x = width - x if v2.flip else x               # original image
    x = width - x if v1.flip else x               # view 1's (possibly flipped) image
    rows = (y - v1.i) / (v1.h / G) - 0.5
    cols = (x - v1.j) / (v1.w / G) - 0.5
    return np.stack(np.broadcast_arrays(rows[:, None], cols[None, :]), -1)


def test_flip_consistency_with_transform_geometry():
    """docs/method.md §8: (u, v) equal the geometric view-1 coordinates for random crops and flips of the transform."""
    rng = np.random.default_rng(0)
    flips = set()
    for _ in range(400):
        height, width = (int(n) for n in rng.integers(64, 600, size=2))
        v1, v2 = (sample_view_geometry(height, width, rng) for _ in range(2))
        flips.add((v1.flip, v2.flip))
        relpos = torch.tensor([relative_position(v1, v2, width)], dtype=torch.float64)
        u, v, _, _ = relative_query_coords(relpos, G)
        coords = np.stack(np.broadcast_arrays(u[0, :, None].numpy(), v[0, None, :].numpy()), -1)
        np.testing.assert_allclose(coords, view1_grid_coords_by_pixel_mapping(v1, v2, width), rtol=0, atol=1e-9)
    assert flips == {(False, False), (False, True), (True, False), (True, True)}
