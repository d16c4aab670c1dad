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


# --- variants of the causality term (issue #14): jerk instead of acceleration, the target as reference -------------
def _direct_acceleration_loss(pred, idx, grid, loss_weight=0.1):
    """The guide's term written out position by position: mean over fully predicted (b, t, s) of
    loss_weight * ||z[t+1] - 2 z[t] + z[t-1]|| / sqrt(D)."""
    t_grid, h, w = grid
    norms = []
    for b in range(pred.shape[0]):
        at = {int(i): pred[b, k] for k, i in enumerate(idx[b])}
        for t in range(1, t_grid - 1):
            for s in range(h * w):
                steps = [(t + dt) * h * w + s for dt in (-1, 0, 1)]
                if all(n in at for n in steps):
                    accel = at[steps[2]] - 2 * at[steps[1]] + at[steps[0]]
                    norms.append(accel.norm() / pred.shape[-1] ** 0.5)
    return loss_weight * torch.stack(norms).mean()


def test_default_causality_equals_the_direct_acceleration_computation_on_random_masks():
    generator = torch.Generator().manual_seed(0)
    for t_grid in (3, 4, 6):
        pred = torch.randn(3, 14, 8, generator=generator)
        idx = torch.stack([torch.randperm(t_grid * 6, generator=generator)[:14] for _ in range(3)])  # (3, 14)
        grid = (t_grid, 2, 3)
        got = _loss(type="TemporalCausalityLoss")(pred, torch.randn(3, 14, 8), idx, grid)
        explicit = _loss(type="TemporalCausalityLoss", order=2, reference="zero")(pred, None, idx, grid)
        assert got.item() == pytest.approx(_direct_acceleration_loss(pred, idx, grid).item(), rel=1e-6)
        assert torch.equal(got, explicit)  # the defaults are order=2, reference="zero"; the target is not read


def test_jerk_is_zero_for_constant_acceleration_and_counts_the_cubic_part():
    time = torch.arange(5.0)[:, None, None]
    offsets = torch.tensor([0.0, 4.0, -1.0])[None, :, None]
    quadratic = (3 * time ** 2 - 2 * time + offsets).expand(5, 3, 4).contiguous()  # acceleration 6 per dim
    pred, idx, grid = _grid_predictions(quadratic)
    jerk = _loss(type="TemporalCausalityLoss", loss_weight=1.0, order=3)
    acceleration = _loss(type="TemporalCausalityLoss", loss_weight=1.0, order=2)
    assert jerk(pred, None, idx, grid).item() == pytest.approx(0.0, abs=1e-5)
    assert acceleration(pred, None, idx, grid).item() == pytest.approx(6.0)  # 6 per dim, RMS over D
    cubic, idx, grid = _grid_predictions((time ** 3).expand(5, 3, 4).contiguous())  # third difference 6
    assert jerk(cubic, None, idx, grid).item() == pytest.approx(6.0)


def test_jerk_needs_four_predicted_time_steps():
    # position 0 predicted at t=0..3 (z = t^3: jerk 6); position 1 only at t=0..2 with wild values
    idx = torch.tensor([[0, 2, 4, 6, 1, 3, 5]])
    pred = torch.tensor([[[0.0], [1.0], [8.0], [27.0], [100.0], [-100.0], [100.0]]])
    jerk = _loss(type="TemporalCausalityLoss", loss_weight=1.0, order=3)
    assert jerk(pred, None, idx, (4, 1, 2)).item() == pytest.approx(6.0)
    short = jerk(pred[:, :3], None, idx[:, :3], (3, 1, 1))  # T' = 3 < 4
    assert short.item() == 0.0


def test_target_reference_penalises_only_accelerations_the_target_does_not_have():
    time = torch.arange(5.0)[:, None, None]
    falling = (-4.9 * time ** 2 + torch.tensor([0.0, 2.0])[None, :, None]).expand(5, 2, 6).contiguous()  # gravity
    target, idx, grid = _grid_predictions(falling)
    relative = _loss(type="TemporalCausalityLoss", loss_weight=1.0, reference="target")
    absolute = _loss(type="TemporalCausalityLoss", loss_weight=1.0)
    assert relative(target.clone(), target, idx, grid).item() == 0.0
    assert absolute(target.clone(), target, idx, grid).item() == pytest.approx(9.8)  # the guide's form punishes it
    wrong, _, _ = _grid_predictions((falling + time ** 2).contiguous())  # predicted acceleration off by 2 per dim
    assert relative(wrong, target, idx, grid).item() == pytest.approx(2.0)
    linear_error, _, _ = _grid_predictions((falling + 5 * time).contiguous())  # wrong velocity, right acceleration
    assert relative(linear_error, target, idx, grid).item() == pytest.approx(0.0, abs=1e-5)
    jerk = _loss(type="TemporalCausalityLoss", loss_weight=1.0, order=3, reference="target")
    cubic_error, _, _ = _grid_predictions((falling + time ** 3).contiguous())
    assert jerk(wrong, target, idx, grid).item() == pytest.approx(0.0, abs=1e-5)  # combinable: jerk of the error
    assert jerk(cubic_error, target, idx, grid).item() == pytest.approx(6.0)


def test_target_reference_gradient_reaches_predictions_only():
    pred = torch.randn(2, 8, 6, requires_grad=True)
    target = torch.randn(2, 8, 6, requires_grad=True)
    idx = torch.arange(8).expand(2, 8)
    loss = _loss(type="TemporalCausalityLoss", reference="target")(pred, target, idx, (4, 1, 2))
    loss.backward()
    assert loss.item() > 0
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None


def test_variant_configs_and_inputs_are_config_errors():
    with pytest.raises(ConfigError, match="order=4: expected 2 .* or 3"):
        _loss(type="TemporalCausalityLoss", order=4)
    with pytest.raises(ConfigError, match="did you mean 'target'"):
        _loss(type="TemporalCausalityLoss", reference="targets")
    pred, idx = torch.randn(1, 3, 2), torch.arange(3)[None]
    with pytest.raises(ConfigError, match="needs the target latents"):
        _loss(type="TemporalCausalityLoss", reference="target")(pred, None, idx, (3, 1, 1))
