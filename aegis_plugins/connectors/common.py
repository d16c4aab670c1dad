"""Pieces shared by the connectors: token-grid checks, temporal position embeddings, checkpointed layer calls.

Temporal embeddings follow Flamingo's learned "time embeddings" added to the visual features of each frame
(Alayrac et al., "Flamingo: a Visual Language Model for Few-Shot Learning", NeurIPS 2022, Sec. 2.1).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from aegis.errors import ConfigError, DataError
from aegis_plugins.encoders.vit_blocks import maybe_checkpoint  # one implementation, shared with the ViT

__all__ = ["TemporalEmbedding", "check_grid", "check_sizes", "maybe_checkpoint", "sincos_table"]

Grid = tuple[int, int, int]


def sincos_table(num_positions: int, dim: int) -> torch.Tensor:
    """The (num_positions, dim) sine-cosine table of Vaswani et al. (sines in the first half, cosines after)."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / max(half, 1))
    angle = torch.arange(num_positions, dtype=torch.float64)[:, None] * freq[None]  # (P, D/2)
    table = torch.zeros(num_positions, dim, dtype=torch.float64)
    table[:, :half] = torch.sin(angle)
    table[:, half:2 * half] = torch.cos(angle)
    return table.float()


def check_grid(grid, num_tokens: int, owner: str) -> Grid:
    """Return ``grid`` as a (T', H', W') tuple of ints after checking that it covers exactly ``num_tokens`` tokens."""
    if grid is None or len(grid) != 3:
        raise ConfigError(f"{owner} needs the encoder's token grid (T', H', W') to place tokens in time; got "
                          f"grid={grid!r}. Pass grid=(T', H', W') to forward, or set temporal_pos_embed=False.")
    t, h, w = (int(g) for g in grid)
    if t * h * w != num_tokens:
        raise DataError(f"{owner}: grid {(t, h, w)} holds {t * h * w} tokens but the visual tokens have "
                        f"N={num_tokens}. The grid must be the encoder's (T', H', W') token layout.")
    return t, h, w


class TemporalEmbedding(nn.Module):
    """Adds a learnable embedding of each token's time step to visual tokens (B, N, D) laid out on a grid.

    Token n sits at time step ``n // (H' * W')`` (time-major layout, as V-JEPA's tubelet embedding emits them).
    The table starts as a sine-cosine table scaled by ``init_scale`` so time is visible from the first step.
    """

    def __init__(self, dim: int, max_positions: int, owner: str, init_scale: float = 0.1) -> None:
        super().__init__()
        self.owner = owner
        self.table = nn.Parameter(sincos_table(max_positions, dim) * init_scale)  # (P, D)

    def steps(self, grid, num_tokens: int) -> torch.Tensor:
        """The embeddings (T', D) of the grid's time steps, after checking the grid against ``num_tokens``."""
        t, _, _ = check_grid(grid, num_tokens, self.owner)
        if t > self.table.shape[0]:
            raise ConfigError(f"{self.owner}: the clip has {t} token time steps but max_temporal_positions="
                              f"{self.table.shape[0]}; raise max_temporal_positions to at least {t}.")
        return self.table[:t]

    def forward(self, tokens: torch.Tensor, grid) -> torch.Tensor:
        batch, num_tokens, dim = tokens.shape
        steps = self.steps(grid, num_tokens)
        tokens = tokens.view(batch, steps.shape[0], -1, dim) + steps[None, :, None, :]  # (B, T', H'W', D)
        return tokens.view(batch, num_tokens, dim)  # (B, N, D)


def check_sizes(owner: str, sizes: dict[str, int], hidden_size: int, num_heads: int) -> None:
    """Raise a ConfigError naming ``owner`` when a size is not positive or the heads do not divide the width."""
    for name, value in sizes.items():
        if value < 1:
            raise ConfigError(f"{owner}: {name}={value} must be a positive integer.")
    if hidden_size % num_heads:
        raise ConfigError(f"{owner}: hidden_size={hidden_size} is not divisible by num_heads={num_heads}; "
                          f"choose num_heads among {[h for h in range(1, 33) if hidden_size % h == 0]}.")


