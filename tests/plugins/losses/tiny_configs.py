"""Tiny configs of the loss terms for the contract test (batch 2, 4 predicted tokens of width 32)."""
import torch

_TARGET_IDX = torch.tensor([[0, 4, 8, 12], [1, 5, 9, 13]])  # one spatial position through 4 time steps of (4, 2, 2)

TINY = {
    "LatentReconstructionLoss": dict(
        registry="LOSSES",
        cfg=dict(type="LatentReconstructionLoss", norm="l1"),
        run=lambda loss: loss(torch.randn(2, 4, 32), torch.randn(2, 4, 32), _TARGET_IDX, (4, 2, 2)),
        expect_shape=(),
    ),
    "TemporalCausalityLoss": dict(
        registry="LOSSES",
        cfg=dict(type="TemporalCausalityLoss", loss_weight=0.1),
        run=lambda loss: loss(torch.randn(2, 4, 32), None, _TARGET_IDX, (4, 2, 2)),
        expect_shape=(),
    ),
}
