"""LatentReconstructionLoss and TemporalCausalityLoss: values, the time-only differencing, gradients, errors."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import LOSSES


def _loss(**cfg):
    return build_component(cfg, LOSSES)


def test_reconstruction_l1_and_l2_values_and_weight():
    pred, target = torch.tensor([[[1.0, -2.0]]]), torch.tensor([[[0.0, 0.0]]])
    assert _loss(type="LatentReconstructionLoss").forward(pred, target).item() == pytest.approx(1.5)
    assert _loss(type="LatentReconstructionLoss", norm="l2").forward(pred, target).item() == pytest.approx(1.25)
    assert _loss(type="LatentReconstructionLoss", loss_weight=2.0).forward(pred, target).item() == pytest.approx(3.0)


def _grid_predictions(values):
    """Predictions (1, T*S, D) for every token of a (T, 1, S) grid from values (T, S, D), with their indices."""
    t, s, d = values.shape
    return values.reshape(1, t * s, d), torch.arange(t * s)[None], (t, 1, s)


def test_causality_is_zero_for_latents_moving_at_constant_velocity_along_time():
    time = torch.arange(5.0)[:, None, None]
    # linear in time, but a different position per spatial token: differencing along the token axis would not vanish
    values = time * torch.tensor([1.0, -3.0, 0.5])[None, :, None] + torch.tensor([0.0, 10.0, -7.0])[None, :, None]
    values = values.expand(5, 3, 4).contiguous()
    pred, idx, grid = _grid_predictions(values)
    loss = _loss(type="TemporalCausalityLoss", loss_weight=1.0)
    assert loss(pred, None, idx, grid).item() == pytest.approx(0.0, abs=1e-6)
    token_axis = (pred[:, 2:] - 2 * pred[:, 1:-1] + pred[:, :-2]).norm(dim=-1).mean()
    assert token_axis.item() > 1.0  # the scaffold's token-axis version would have penalised this trajectory


def test_causality_value_for_constant_acceleration():
    time = torch.arange(4.0)[:, None, None]
    values = (time ** 2) * torch.full((1, 2, 4), 3.0)  # z(t) = 3 t^2 in every dim: acceleration 6 per dim
    pred, idx, grid = _grid_predictions(values)
    unnormalised = _loss(type="TemporalCausalityLoss", loss_weight=1.0, normalize=False)
    assert unnormalised(pred, None, idx, grid).item() == pytest.approx(12.0)  # ||(6, 6, 6, 6)|| = 12
    normalised = _loss(type="TemporalCausalityLoss", loss_weight=0.1)
    assert normalised(pred, None, idx, grid).item() == pytest.approx(0.6)  # 0.1 * 12 / sqrt(4)


def test_causality_uses_only_positions_whose_three_time_steps_were_predicted():
    grid = (3, 1, 2)
    # position 0 predicted at t=0,1,2 (z = 0, 0, 5: acceleration 5); position 1 only at t=0 and t=2
    idx = torch.tensor([[0, 2, 4, 1, 5]])
    pred = torch.tensor([[[0.0], [0.0], [5.0], [100.0], [-100.0]]])
    loss = _loss(type="TemporalCausalityLoss", loss_weight=1.0)
    assert loss(pred, None, idx, grid).item() == pytest.approx(5.0)


def test_causality_gradient_reaches_predictions_and_short_clips_give_zero():
    pred = torch.randn(2, 8, 6, requires_grad=True)
    idx = torch.arange(8).expand(2, 8)
    loss = _loss(type="TemporalCausalityLoss")
    loss(pred, None, idx, (4, 1, 2)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    short = loss(pred, None, idx, (2, 2, 2))
    assert short.item() == 0.0 and short.requires_grad


def test_bad_configs_and_inputs_are_config_errors():
    with pytest.raises(ConfigError, match="'l1'"):
        _loss(type="LatentReconstructionLoss", norm="huber")
    with pytest.raises(ConfigError, match="containing 'loss'"):
        _loss(type="TemporalCausalityLoss", loss_name="causality")
    with pytest.raises(ConfigError, match="target_idx"):
        _loss(type="TemporalCausalityLoss")(torch.randn(1, 2, 3), None, None, None)
