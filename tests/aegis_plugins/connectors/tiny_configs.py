"""Tiny configs of every registered connector, for tests/aegis_plugins/test_contract.py (no test functions here)."""
import torch

# Tiny encoder output: 2 frames, tubelet 2, 16 px, patch 8 -> grid (1, 2, 2), 4 tokens of width 32.
GRID = (1, 2, 2)


def _tokens():
    return torch.randn(2, 4, 32)


TINY = {
    "QFormer": dict(
        registry="CONNECTORS",
        cfg=dict(type="QFormer", input_dim=32, output_dim=48, num_query_tokens=4, depth=2, hidden_size=32,
                 num_heads=2, intermediate_size=64, temporal_pos_embed=True, max_temporal_positions=4),
        run=lambda connector: connector(_tokens(), GRID),
        expect_shape=(2, 4, 48),
    ),
    "PerceiverResampler": dict(
        registry="CONNECTORS",
        cfg=dict(type="PerceiverResampler", input_dim=32, output_dim=48, num_query_tokens=4, depth=2,
                 hidden_size=32, num_heads=2, intermediate_size=64, max_temporal_positions=4),
        run=lambda connector: connector(_tokens(), GRID),
        expect_shape=(2, 4, 48),
    ),
    "MLPProjector": dict(
        registry="CONNECTORS",
        cfg=dict(type="MLPProjector", input_dim=32, output_dim=48, temporal_tokens=1, spatial_grid=(2, 2),
                 hidden_size=32),
        run=lambda connector: connector(_tokens(), GRID),
        expect_shape=(2, 4, 48),
    ),
}
