"""Tests of the LLaVA-style MLP projector, and of swapping connectors with a one-line config change."""
import pytest
import torch
from mmengine.config import Config

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import CONNECTORS


def build(**overrides):
    torch.manual_seed(0)
    cfg = dict(dict(type="MLPProjector", temporal_tokens=1, spatial_grid=(2, 2), hidden_size=32), **overrides)
    return build_component(cfg, CONNECTORS, input_dim=24, output_dim=40)


def test_pools_over_time_and_space_before_the_mlp():
    projector = build(spatial_grid=(1, 2), depth=1)
    visual = torch.randn(2, 8, 24)  # grid (2, 2, 2)
    out = projector(visual, (2, 2, 2))
    assert out.shape == (2, 2, 40) and projector.num_output_tokens == 2
    grid = visual.view(2, 2, 2, 2, 24)  # (B, T', H', W', D)
    left = grid[:, :, :, 0].mean(dim=(1, 2))  # column 0 averaged over time and rows
    assert torch.allclose(out[:, 0], projector.mlp(left), atol=1e-5)


def test_without_a_grid_tokens_are_pooled_along_the_sequence():
    projector = build(temporal_tokens=2, spatial_grid=(1, 1))
    visual = torch.randn(1, 6, 24)
    out = projector(visual)
    assert out.shape == (1, 2, 40)
    assert torch.allclose(out[:, 1], projector.mlp(visual[:, 3:].mean(1)), atol=1e-5)


def test_errors():
    with pytest.raises(ConfigError, match="spatial_grid"):
        build(spatial_grid=(0, 2))
    with pytest.raises(DataError, match="N=6"):
        build()(torch.randn(1, 6, 24), (1, 2, 2))


def test_swapping_the_connector_is_one_line(tmp_path):
    (tmp_path / "base.py").write_text(
        "model = dict(connector=dict(type='QFormer', num_query_tokens=4, depth=2, hidden_size=32, num_heads=2,\n"
        "                            intermediate_size=64))\n")
    (tmp_path / "perceiver.py").write_text(
        "_base_ = ['base.py']\nmodel = dict(connector=dict(type='PerceiverResampler'))\n")
    (tmp_path / "mlp.py").write_text(
        "_base_ = ['base.py']\nmodel = dict(connector=dict(_delete_=True, type='MLPProjector'))\n")
    visual = torch.randn(2, 32, 24)
    built = {}
    for name in ("base", "perceiver", "mlp"):
        cfg = Config.fromfile(str(tmp_path / f"{name}.py"))
        connector = build_component(cfg.model.connector, CONNECTORS, path="model.connector",
                                    input_dim=24, output_dim=40)
        built[type(connector).__name__] = connector(visual, (2, 4, 4)).shape
    assert built == {"QFormer": (2, 4, 40), "PerceiverResampler": (2, 4, 40), "MLPProjector": (2, 32, 40)}
