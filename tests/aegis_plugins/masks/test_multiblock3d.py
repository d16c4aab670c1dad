"""MultiBlock3DMaskGenerator: geometry, equal lengths, the mask_ratio knob and its errors."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import MASK_GENERATORS


def _gen(**cfg):
    return build_component(dict(type="MultiBlock3DMaskGenerator", **cfg), MASK_GENERATORS)


def test_indices_are_sorted_disjoint_and_cover_only_the_grid():
    gen = _gen(num_blocks=8, mask_ratio=None, spatial_scale=(0.15, 0.15))
    context, target = gen(4, (4, 8, 8), torch.Generator().manual_seed(0))
    assert context.dtype == target.dtype == torch.int64
    assert context.shape[0] == target.shape[0] == 4
    for c, t in zip(context, target):
        assert torch.equal(c, c.sort().values) and torch.equal(t, t.sort().values)
        assert len(set(c.tolist()) & set(t.tolist())) == 0
        assert int(c.max()) < 256 and int(t.max()) < 256 and len(set(c.tolist())) == len(c)


def test_block_geometry_is_shared_across_time_and_has_the_configured_size():
    # one 4x4 block (scale 0.25 of 8x8, aspect 1) through all 4 time steps
    gen = _gen(num_blocks=1, mask_ratio=None, spatial_scale=(0.25, 0.25), aspect_ratio=(1.0, 1.0))
    masked = gen.sample_masked(3, (4, 8, 8), torch.Generator().manual_seed(1)).view(3, 4, 8, 8)
    assert torch.equal(masked, masked[:, :1].expand_as(masked))  # the same spatial mask at every time step
    assert masked[:, 0].sum(dim=(1, 2)).tolist() == [16, 16, 16]
    rows, cols = masked[0, 0].nonzero().unbind(1)
    assert int(rows.max() - rows.min()) == 3 and int(cols.max() - cols.min()) == 3  # a contiguous 4x4 square


def test_mask_ratio_sets_the_masked_fraction_on_average():
    for blocks in (8, 2):
        gen = _gen(num_blocks=blocks, mask_ratio=0.8)
        g = torch.Generator().manual_seed(0)
        fraction = torch.stack([gen.sample_masked(8, (4, 8, 8), g).float().mean() for _ in range(25)]).mean()
        assert abs(fraction.item() - 0.8) < 0.05, (blocks, fraction)
    low = _gen(num_blocks=8, mask_ratio=0.6).spatial_scale_for((4, 8, 8))[0]
    high = _gen(num_blocks=8, mask_ratio=0.9).spatial_scale_for((4, 8, 8))[0]
    assert low < high


def test_lengths_are_equal_across_the_batch_and_every_context_is_non_empty():
    gen = _gen(num_blocks=2, mask_ratio=None, spatial_scale=(0.7, 0.7))
    context, target = gen(16, (2, 4, 4), torch.Generator().manual_seed(3))
    assert context.shape[1] >= 1 and target.shape[1] >= 1
    assert context.shape[1] + target.shape[1] <= 32


def test_a_block_as_large_as_the_grid_still_leaves_one_visible_token():
    gen = _gen(num_blocks=1, mask_ratio=None, spatial_scale=(1.0, 1.0), aspect_ratio=(1.0, 1.0))
    context, target = gen(2, (2, 2, 2), torch.Generator().manual_seed(0))
    assert context.shape == (2, 1) and target.shape == (2, 7)


def test_same_seed_same_masks():
    gen = _gen(num_blocks=8, mask_ratio=0.8)
    a = gen(4, (4, 8, 8), torch.Generator().manual_seed(7))
    b = gen(4, (4, 8, 8), torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_max_context_caps_the_visible_tokens():
    context, _ = _gen(num_blocks=2, mask_ratio=0.5, max_context=5)(2, (4, 8, 8), torch.Generator().manual_seed(0))
    assert context.shape == (2, 5)


def test_conflicting_or_bad_knobs_are_config_errors():
    with pytest.raises(ConfigError, match="exactly one of mask_ratio"):
        _gen(num_blocks=8, spatial_scale=(0.15, 0.15))  # mask_ratio keeps its default 0.8
    with pytest.raises(ConfigError, match="0 < mask_ratio < 1"):
        _gen(mask_ratio=1.2)
    with pytest.raises(ConfigError, match="spatial_scale"):
        _gen(mask_ratio=None, spatial_scale=(0.5, 0.2))
    with pytest.raises(ConfigError, match="grid_size"):
        _gen()(2, (4, 8))
