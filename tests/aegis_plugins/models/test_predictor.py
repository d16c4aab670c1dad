"""JEPAPredictor: shapes, order invariance, mask tokens per group, errors."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.contracts import LatentPredictor


def _predictor(**extra):
    cfg = dict(type="JEPAPredictor", encoder_embed_dim=32, grid_size=(2, 2, 2), embed_dim=16, depth=2, num_heads=2)
    cfg.update(extra)
    return build_component(cfg, LatentPredictor).eval()


def test_predicts_encoder_width_at_target_positions_independent_of_context_order():
    torch.manual_seed(0)
    pred = _predictor(zero_init_mask_tokens=False)
    context, context_idx = torch.randn(2, 3, 32), torch.tensor([[0, 3, 5], [1, 2, 7]])
    target_idx = torch.tensor([[1, 2], [0, 6]])
    out = pred(context, context_idx, target_idx)
    assert out.shape == (2, 2, 32)
    perm = torch.tensor([2, 0, 1])
    shuffled = pred(context[:, perm], context_idx[:, perm], target_idx)
    assert torch.allclose(out, shuffled, atol=1e-5)
    # the prediction depends on where the target is: other positions give other outputs
    assert not torch.allclose(out, pred(context, context_idx, torch.tensor([[4, 6], [3, 4]])), atol=1e-4)


def test_each_mask_group_has_its_own_mask_token():
    torch.manual_seed(0)
    pred = _predictor(num_mask_tokens=2, zero_init_mask_tokens=False)
    args = torch.randn(1, 2, 32), torch.tensor([[0, 1]]), torch.tensor([[2, 3]])
    assert not torch.allclose(pred(*args, mask_index=0), pred(*args, mask_index=1))


def test_bad_sizes_and_indices_raise():
    with pytest.raises(ConfigError, match="not divisible by num_heads"):
        _predictor(embed_dim=30, num_heads=4)
    with pytest.raises(DataError, match="context_idx"):
        _predictor()(torch.randn(2, 3, 32), torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long))
