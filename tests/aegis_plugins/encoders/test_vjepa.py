"""VJEPAEncoder: shapes, masked (kept-token) forward, frozen mode, sizes, position embeddings, errors."""
import math

import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import ENCODERS
from aegis_plugins.encoders.pos_embed import sincos_3d
from aegis_plugins.encoders.vjepa import VJEPAEncoder

TINY = dict(arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2, num_frames=4, img_size=16)


def _encoder(**overrides):
    torch.manual_seed(0)
    return VJEPAEncoder(**{**TINY, **overrides})


def test_built_from_registry_gives_tokens_and_grid_attributes():
    enc = build_component(dict(type="VJEPAEncoder", **TINY), ENCODERS, path="model.encoder")
    out = enc(torch.randn(2, 3, 4, 16, 16))
    assert out.shape == (2, 8, 32)
    assert enc.grid_size == (2, 2, 2) and enc.num_tokens == 8 and enc.embed_dim == 32
    assert enc.patch_size == 8 and enc.tubelet_size == 2


def test_pooled_output_is_the_token_mean():
    tokens_enc, pooled_enc = _encoder(), _encoder(output="pooled")
    video = torch.randn(2, 3, 4, 16, 16)
    torch.testing.assert_close(pooled_enc(video), tokens_enc(video).mean(1))


def test_keep_indices_run_blocks_on_gathered_tokens_only():
    enc = _encoder().eval()
    video = torch.randn(2, 3, 4, 16, 16)
    keep = torch.tensor([[0, 5, 7], [2, 3, 6]])
    out = enc(video, keep)
    assert out.shape == (2, 3, 32)
    x = enc.embed(video)
    expected = torch.stack([x[0, keep[0]], x[1, keep[1]]])
    for block in enc.blocks:
        expected = block(expected)
    torch.testing.assert_close(out, enc.norm(expected))
    # attention over a subset differs from the full sequence: the dropped tokens really are gone
    assert not torch.allclose(out[0], enc(video)[0, keep[0]], atol=1e-4)


def test_keep_all_tokens_in_permuted_order_permutes_the_full_output():
    enc = _encoder().eval()
    video = torch.randn(2, 3, 4, 16, 16)
    perm = torch.stack([torch.randperm(8), torch.randperm(8)])
    full = enc(video)
    torch.testing.assert_close(enc(video, perm), torch.gather(full, 1, perm.unsqueeze(-1).expand(-1, -1, 32)),
                               atol=1e-5, rtol=1e-5)


def test_stacked_masks_repeat_clips_mask_major():
    enc = _encoder().eval()
    video = torch.randn(2, 3, 4, 16, 16)
    m0, m1 = torch.tensor([[0, 1], [2, 3]]), torch.tensor([[4, 5], [6, 7]])
    out = enc(video, torch.cat([m0, m1]))
    assert out.shape == (4, 2, 32)
    torch.testing.assert_close(out[2:], enc(video, m1))
    with pytest.raises(DataError, match="keep_indices"):
        enc(video, torch.zeros(3, 2, dtype=torch.long))


def test_gradients_reach_weights_and_frozen_blocks_them():
    enc = _encoder()
    enc(torch.randn(2, 3, 4, 16, 16), torch.tensor([[0, 1], [2, 3]])).sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
    frozen = _encoder(frozen=True)
    frozen.train()
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    assert not frozen(torch.randn(1, 3, 4, 16, 16)).requires_grad


def test_named_arch_sizes_and_explicit_override():
    enc = VJEPAEncoder(arch="vit_small", depth=1, patch_size=16, num_frames=2, img_size=32)
    assert (enc.embed_dim, len(enc.blocks), enc.num_heads) == (384, 1, 6)
    assert enc.blocks[0].mlp.fc1.out_features == 4 * 384
    assert enc.blocks[0].norm1.eps == 1e-6 and enc.norm.eps == 1e-6
    with pytest.raises(ConfigError, match="Did you mean 'vit_large'"):
        VJEPAEncoder(arch="vit_lage")
    with pytest.raises(ConfigError, match="depth, num_heads"):
        VJEPAEncoder(arch=None, embed_dim=32)


def test_position_table_layout_is_depth_height_width_of_sin_cos():
    dim, grid = 36, (2, 3, 4)
    table = sincos_3d(dim, grid, uniform_power=True)
    assert table.shape == (24, 36)
    part = 2 * math.ceil(dim / 6)  # 12 channels each for depth, height, width
    t, h, w = 1, 2, 3
    row = table[t * 12 + h * 4 + w]  # w fastest
    omega = 1.0 / 10000 ** (torch.arange(part // 2, dtype=torch.float64) / (part / 2))
    for offset, pos in ((0, t), (part, h), (2 * part, w)):
        torch.testing.assert_close(row[offset:offset + part // 2].double(), torch.sin(pos * omega), atol=1e-6, rtol=0)
        torch.testing.assert_close(row[offset + part // 2:offset + part].double(), torch.cos(pos * omega),
                                   atol=1e-6, rtol=0)
    halves = sincos_3d(32, grid, uniform_power=False)  # depth 16, height 8, width 8
    torch.testing.assert_close(halves[t * 12 + h * 4 + w, 16:20].double(), torch.sin(h * (1.0 / 10000 ** (
        torch.arange(4, dtype=torch.float64) / 4))), atol=1e-6, rtol=0)


def test_other_input_sizes_interpolate_position_embeddings():
    enc = _encoder().eval()
    assert enc(torch.randn(1, 3, 8, 32, 32)).shape == (1, 4 * 4 * 4, 32)
    assert enc._pos_embed_for(enc.grid_size) is enc.pos_embed


def test_bad_inputs_raise_clear_errors():
    enc = _encoder()
    with pytest.raises(DataError, match=r"\(B, C=3, T, H, W\)"):
        enc(torch.randn(2, 4, 3, 16, 16))
    with pytest.raises(DataError, match="multiple of tubelet_size=2"):
        enc(torch.randn(2, 3, 3, 16, 16))
    with pytest.raises(DataError, match="float"):
        enc(torch.zeros(2, 3, 4, 16, 16, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="not divisible"):
        VJEPAEncoder(**{**TINY, "num_heads": 3})


def test_embedding_only_kept_tubelets_equals_gathering_embedded_tokens():
    enc = _encoder()
    video = torch.randn(2, 3, 4, 16, 16)
    keep = torch.tensor([[7, 0, 3], [1, 1, 6], [2, 4, 5], [0, 6, 7]])  # two masks stacked: rows 2, 3 index clips 0, 1
    full = enc.embed(video)  # (B, N, D)
    expected = torch.stack([full[0, keep[0]], full[1, keep[1]], full[0, keep[2]], full[1, keep[3]]])
    torch.testing.assert_close(enc.embed_kept(video, keep), expected, atol=1e-5, rtol=1e-5)
