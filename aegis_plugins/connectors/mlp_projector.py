"""An MLP projector with spatio-temporal pooling, the LLaVA-style connector.

Liu et al., "Improved Baselines with Visual Instruction Tuning" (LLaVA-1.5), CVPR 2024: a two-layer GELU MLP maps
each visual token to the LLM's width. For video, tokens are first average-pooled over time and space to a fixed
count (as video LLaVA variants pool frame features), so the prefix length does not grow with the clip.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aegis.errors import ConfigError

from .common import check_grid, maybe_checkpoint

__all__ = ["MLPProjector"]


class MLPProjector(nn.Module):
    """Pool visual tokens (B, N, Dv) to a fixed grid, then an MLP: -> LLM prefix (B, Q, Dllm).

    With the encoder grid (T', H', W') the tokens are adaptively average-pooled to
    (``temporal_tokens``, *``spatial_grid``*), so Q = temporal_tokens * spatial_grid[0] * spatial_grid[1]
    (time-major). Without a grid the N tokens are pooled along their sequence to Q. The MLP has ``depth`` linear
    layers with GELU between them and width ``hidden_size`` (default: ``output_dim``, as LLaVA-1.5's mlp2x_gelu).
    """

    def __init__(self, input_dim: int, output_dim: int, temporal_tokens: int = 2,
                 spatial_grid: tuple[int, int] = (4, 4), depth: int = 2, hidden_size: int | None = None,
                 gradient_checkpointing: bool = False) -> None:
        super().__init__()
        if len(spatial_grid) != 2 or min(spatial_grid) < 1 or temporal_tokens < 1:
            raise ConfigError(f"MLPProjector: temporal_tokens={temporal_tokens} and spatial_grid={spatial_grid} "
                              "must be positive; spatial_grid is (rows, cols), e.g. (4, 4).")
        if depth < 1:
            raise ConfigError(f"MLPProjector: depth={depth} must be at least 1 (the number of linear layers).")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.temporal_tokens, self.spatial_grid = int(temporal_tokens), (int(spatial_grid[0]), int(spatial_grid[1]))
        self.num_output_tokens = self.temporal_tokens * self.spatial_grid[0] * self.spatial_grid[1]
        self.gradient_checkpointing = gradient_checkpointing
        width = hidden_size or output_dim
        dims = [input_dim] + [width] * (depth - 1) + [output_dim]
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < depth - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)

    def pool(self, visual_tokens: torch.Tensor, grid=None) -> torch.Tensor:
        """Average-pool (B, N, Dv) to (B, Q, Dv)."""
        batch, num_tokens, dim = visual_tokens.shape
        if grid is None:
            pooled = F.adaptive_avg_pool1d(visual_tokens.transpose(1, 2), self.num_output_tokens)  # (B, Dv, Q)
            return pooled.transpose(1, 2)  # (B, Q, Dv)
        t, h, w = check_grid(grid, num_tokens, "MLPProjector")
        volume = visual_tokens.transpose(1, 2).reshape(batch, dim, t, h, w)  # (B, Dv, T', H', W')
        pooled = F.adaptive_avg_pool3d(volume, (self.temporal_tokens, *self.spatial_grid))  # (B, Dv, t, h, w)
        return pooled.flatten(2).transpose(1, 2)  # (B, Q, Dv)

    def forward(self, visual_tokens: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        """Map visual tokens (B, N, Dv) with grid (T', H', W') to the LLM prefix (B, Q, Dllm)."""
        if visual_tokens.dim() != 3 or visual_tokens.shape[-1] != self.input_dim:
            raise ConfigError(f"MLPProjector expects visual tokens (B, N, {self.input_dim}); got "
                              f"{tuple(visual_tokens.shape)}. input_dim must equal the encoder's embed_dim.")
        return maybe_checkpoint(self.mlp, self.gradient_checkpointing, self.pool(visual_tokens, grid))
