"""Random tube masks.

Tong et al., "VideoMAE" (2022) tube masking, as offered by V-JEPA (Bardes et al., 2024, ``src/masks/random_tube.py``):
the same random set of spatial patches is masked in every time step.
"""
from __future__ import annotations

import torch
from torch import Tensor

from aegis.errors import ConfigError

from ._indices import IndexMaskGenerator, check_grid

__all__ = ["RandomTubeMaskGenerator"]


class RandomTubeMaskGenerator(IndexMaskGenerator):
    """Mask ``round(mask_ratio * H' * W')`` random spatial positions through all T' time steps.

    ``gen(B, grid_size)`` returns ``(context (B, Kc), target (B, Kt))`` LongTensors of token indices (token
    ``t*H'*W' + h*W' + w``, sorted ascending); every sample masks the same number of tubes, so Kt = T' * masked
    positions and Kc = N - Kt (Kc optionally capped by ``max_context``).
    """

    def __init__(self, mask_ratio: float = 0.8, max_context: int | None = None) -> None:
        if not 0.0 < float(mask_ratio) < 1.0:
            raise ConfigError(f"RandomTubeMaskGenerator.mask_ratio={mask_ratio!r}: expected 0 < mask_ratio < 1 "
                              "(training guide: 0.8, sweep 0.6-0.9).")
        if max_context is not None and int(max_context) < 1:
            raise ConfigError(f"RandomTubeMaskGenerator.max_context={max_context!r}: expected None or an int >= 1.")
        self.mask_ratio = float(mask_ratio)
        self.max_context = None if max_context is None else int(max_context)

    def __repr__(self) -> str:
        return f"RandomTubeMaskGenerator(mask_ratio={self.mask_ratio})"

    def sample_masked(self, batch_size: int, grid_size, generator: torch.Generator | None = None) -> Tensor:
        """Boolean (B, N) mask, True where a token is to be predicted."""
        t, h, w = check_grid(grid_size, "RandomTubeMaskGenerator")
        spatial = h * w
        n_masked = min(max(int(round(self.mask_ratio * spatial)), 1), spatial - 1) if spatial > 1 else 0
        if n_masked == 0:
            raise ConfigError(f"RandomTubeMaskGenerator: a grid of {h}x{w} spatial tokens cannot be tube-masked; "
                              "it needs at least 2 spatial positions (use a larger image or a smaller patch).")
        order = torch.argsort(torch.rand(batch_size, spatial, generator=generator), dim=1)  # (B, H'W')
        masked_spatial = torch.zeros(batch_size, spatial, dtype=torch.bool)
        masked_spatial.scatter_(1, order[:, :n_masked], True)
        return masked_spatial[:, None, :].expand(batch_size, t, spatial).reshape(batch_size, t * spatial)  # (B, N)
