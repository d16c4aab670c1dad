"""Tests of the Flamingo Perceiver Resampler connector."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import CONNECTORS


def build(**overrides):
    torch.manual_seed(0)
    cfg = dict(dict(type="PerceiverResampler", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2,
                    intermediate_size=64, max_temporal_positions=4), **overrides)
    return build_component(cfg, CONNECTORS, input_dim=24, output_dim=40).eval()


def test_fixed_number_of_output_tokens_whatever_the_clip_length():
    resampler = build()
    for time_steps in (1, 3):
        out = resampler(torch.randn(2, time_steps * 4, 24), (time_steps, 2, 2))
        assert out.shape == (2, 4, 40) and resampler.num_output_tokens == 4


def test_time_embeddings_make_frame_order_matter():
    visual = torch.randn(1, 8, 24)
    swapped = torch.cat([visual[:, 4:], visual[:, :4]], dim=1)
    timed = build()
    assert not torch.allclose(timed(visual, (2, 2, 2)), timed(swapped, (2, 2, 2)), atol=1e-4)
    untimed = build(temporal_pos_embed=False)
    assert torch.allclose(untimed(visual), untimed(swapped), atol=1e-5)
    with pytest.raises(ConfigError, match="grid"):
        timed(visual)


def test_gradient_checkpointing_matches_and_gradients_reach_the_latents():
    visual = torch.randn(2, 8, 24)
    results = []
    for flag in (False, True):
        resampler = build(gradient_checkpointing=flag).train()
        out = resampler(visual, (2, 2, 2))
        out.sum().backward()
        results.append((out.detach(), resampler.latents.grad.clone()))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6) and results[0][1].abs().sum() > 0
