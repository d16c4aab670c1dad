"""RandomTubeMaskGenerator: tubes through time, exact counts, errors."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import MASK_GENERATORS


def test_tubes_mask_the_same_positions_at_every_time_step_with_exact_counts():
    gen = build_component(dict(type="RandomTubeMaskGenerator", mask_ratio=0.75), MASK_GENERATORS)
    masked = gen.sample_masked(4, (3, 4, 4), torch.Generator().manual_seed(0)).view(4, 3, 16)
    assert torch.equal(masked, masked[:, :1].expand_as(masked))
    assert masked[:, 0].sum(dim=1).tolist() == [12, 12, 12, 12]
    context, target = gen(4, (3, 4, 4), torch.Generator().manual_seed(0))
    assert context.shape == (4, 12) and target.shape == (4, 36)
    assert all(not set(c.tolist()) & set(t.tolist()) for c, t in zip(context, target))
    assert not torch.equal(masked[0], masked[1])  # samples differ


def test_bad_ratio_and_degenerate_grid_are_config_errors():
    with pytest.raises(ConfigError, match="0 < mask_ratio < 1"):
        build_component(dict(type="RandomTubeMaskGenerator", mask_ratio=0.0), MASK_GENERATORS)
    with pytest.raises(ConfigError, match="at least 2 spatial positions"):
        build_component(dict(type="RandomTubeMaskGenerator"), MASK_GENERATORS)(2, (4, 1, 1))
