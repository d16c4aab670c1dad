"""Tiny configs of the mask generators for the contract test (a 2x4x4 token grid, batch 2)."""
import torch

TINY = {
    "MultiBlock3DMaskGenerator": dict(
        registry="MASK_GENERATORS",
        cfg=dict(type="MultiBlock3DMaskGenerator", num_blocks=2, mask_ratio=0.5),
        run=lambda gen: gen.sample_masked(2, (2, 4, 4), torch.Generator().manual_seed(0)).float(),
        expect_shape=(2, 32),
    ),
    "RandomTubeMaskGenerator": dict(
        registry="MASK_GENERATORS",
        cfg=dict(type="RandomTubeMaskGenerator", mask_ratio=0.5),
        run=lambda gen: torch.cat(gen(2, (2, 4, 4), torch.Generator().manual_seed(0)), dim=1).float(),
        expect_shape=(2, 32),
    ),
    "FutureMaskGenerator": dict(
        registry="MASK_GENERATORS",
        cfg=dict(type="FutureMaskGenerator", future_steps=1),
        run=lambda gen: torch.cat(gen(2, (2, 4, 4), torch.Generator().manual_seed(0)), dim=1).float(),
        expect_shape=(2, 32),
    ),
}
