"""A hand-designed motion feature: absolute frame differences pooled on a coarse grid (no learned backbone)."""
import torch
from torch import nn


class MotionEnergyEncoder(nn.Module):
    """Turn a clip into one token per frame difference: mean |x[t+1] - x[t]| on a `grid`x`grid` layout, projected.

    Takes (B, C, T, H, W) floats and returns (B, N, D) with N = T - 1 and D = embed_dim
    (or (B, D), the mean over tokens, with output="pooled"). Keeps AEGIS's VideoEncoder contract
    (aegis.contracts.VideoEncoder): `embed_dim`, `frozen`, `grid_size` and `grid_of`.
    """

    def __init__(self, embed_dim: int = 32, grid: int = 4, in_chans: int = 3, output: str = "tokens") -> None:
        super().__init__()
        if output not in ("tokens", "pooled"):
            raise ValueError(f"MotionEnergyEncoder.output={output!r}: expected 'tokens' or 'pooled'")
        self.embed_dim, self.grid, self.output = embed_dim, grid, output
        self.frozen = False
        self.grid_size = None  # the token grid depends on the clip length: see grid_of
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.proj = nn.Linear(in_chans * grid * grid, embed_dim)

    def grid_of(self, video_shape) -> tuple[int, int, int] | None:
        """(T - 1, 1, 1): one token per frame difference; None when pooled."""
        return None if self.output == "pooled" else (video_shape[2] - 1, 1, 1)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = video.shape
        diff = (video[:, :, 1:] - video[:, :, :-1]).abs()  # (B, C, T-1, H, W)
        diff = diff.transpose(1, 2).reshape(b * (t - 1), c, h, w)  # (B*(T-1), C, H, W)
        energy = self.pool(diff).reshape(b, t - 1, c * self.grid * self.grid)  # (B, N, C*g*g)
        tokens = self.proj(energy)  # (B, N, D)
        return tokens.mean(1) if self.output == "pooled" else tokens
