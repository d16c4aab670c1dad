"""FutureMaskGenerator: the past is the context, the last time steps are the target; ranges and errors."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import MASK_GENERATORS


def test_the_last_steps_are_predicted_from_all_earlier_tokens():
    gen = build_component(dict(type="FutureMaskGenerator", future_steps=2), MASK_GENERATORS)
    context, target = gen(3, (5, 2, 3))  # T'=5, 6 tokens per step
    assert torch.equal(context, torch.arange(18).expand(3, 18))  # steps 0-2
    assert torch.equal(target, torch.arange(18, 30).expand(3, 12))  # steps 3-4


def test_a_range_draws_one_count_per_batch_within_it():
    gen = build_component(dict(type="FutureMaskGenerator", future_steps=(1, 3)), MASK_GENERATORS)
    counts = set()
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        context, target = gen(2, (4, 2, 2), g)
        assert context.shape[0] == target.shape[0] == 2 and context.shape[1] + target.shape[1] == 16
        assert int(target.min()) == int(context.max()) + 1  # target is exactly the future of the context
        counts.add(target.shape[1] // 4)
    assert counts == {1, 2, 3}


def test_the_causality_loss_sees_every_predicted_future_step():
    from aegis.registry import LOSSES

    gen = build_component(dict(type="FutureMaskGenerator", future_steps=3), MASK_GENERATORS)
    _, target = gen(2, (4, 2, 2))
    loss = build_component(dict(type="TemporalCausalityLoss", loss_weight=1.0), LOSSES)
    straight = torch.arange(3.0).repeat_interleave(4)[None, :, None].expand(2, 12, 8)  # constant velocity
    bent = straight.clone()
    bent[:, 4:8] += 1.0  # the middle step off the line
    assert float(loss(straight, None, target, (4, 2, 2))) == pytest.approx(0.0)
    assert float(loss(bent, None, target, (4, 2, 2))) > 0.5


def test_no_past_left_and_bad_ranges_are_config_errors():
    with pytest.raises(ConfigError, match=r"leaves no past.*future_steps <= 3"):
        build_component(dict(type="FutureMaskGenerator", future_steps=4), MASK_GENERATORS)(2, (4, 2, 2))
    with pytest.raises(ConfigError, match="1 <= low <= high"):
        build_component(dict(type="FutureMaskGenerator", future_steps=(3, 1)), MASK_GENERATORS)
