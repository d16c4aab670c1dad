"""Fixed 3D sine-cosine position embeddings of V-JEPA.

Bardes et al., "Revisiting Feature Prediction for Learning Visual Representations from Video" (V-JEPA), 2024.
The table layout follows the official release (facebookresearch/jepa): tokens are ordered (t, h, w) with w fastest,
and each row is the concatenation [depth | height | width] of 1D tables, each itself [sin | cos].
"""
from __future__ import annotations

import math

import torch

__all__ = ["sincos_1d", "sincos_3d"]


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """1D table (M, dim) for positions (M,): [sin(p * w_k) | cos(p * w_k)] with w_k = 10000^(-k / (dim / 2))."""
    if dim % 2:
        raise ValueError(f"a sine-cosine table needs an even width, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000.0 ** omega  # (dim/2,)
    angles = positions.to(torch.float64).reshape(-1, 1) * omega  # (M, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (M, dim)


def sincos_3d(dim: int, grid: tuple[int, int, int], uniform_power: bool = True) -> torch.Tensor:
    """Table (T' * H' * W', dim) float32 for a (T', H', W') token grid.

    With ``uniform_power`` (what the released V-JEPA checkpoints use) depth, height and width each get
    ``2 * ceil(dim / 6)`` channels and the row is cut to ``dim``; otherwise depth gets ``dim // 2`` and height and
    width ``dim // 4`` each.
    """
    depth, height, width = grid
    d, h, w = torch.meshgrid(torch.arange(depth), torch.arange(height), torch.arange(width), indexing="ij")
    if uniform_power:
        d_dim = h_dim = w_dim = 2 * math.ceil(dim / 6)
    else:
        d_dim, h_dim, w_dim = dim // 2, dim // 4, dim // 4
    table = torch.cat([sincos_1d(d_dim, d), sincos_1d(h_dim, h), sincos_1d(w_dim, w)], dim=1)  # (N, >= dim)
    return table[:, :dim].float().contiguous()  # (N, D)
