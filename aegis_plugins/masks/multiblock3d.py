"""V-JEPA multi-block 3D masks.

Bardes et al., "Revisiting Feature Prediction for Learning Visual Representations from Video" (V-JEPA, 2024),
section 3.2 and appendix: several space-time blocks are masked, the context is their complement. Short-range masks
use many small blocks (8 at spatial scale 0.15), long-range masks a few large ones (2 at 0.7); blocks span the whole
clip in time (temporal scale 1.0), so the mask is shared across time.
"""
from __future__ import annotations

import torch
from torch import Tensor

from aegis.errors import ConfigError

from ._indices import IndexMaskGenerator, check_grid

__all__ = ["MultiBlock3DMaskGenerator"]

_MAX_RESAMPLES = 50


def _check_range(value, name: str, low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"MultiBlock3DMaskGenerator.{name} must be a (min, max) pair; got {value!r}.") from None
    if not (low <= a <= b <= high):
        raise ConfigError(f"MultiBlock3DMaskGenerator.{name}={value!r}: expected {low} <= min <= max <= {high}.")
    return a, b


class MultiBlock3DMaskGenerator(IndexMaskGenerator):
    """Sample V-JEPA multi-block 3D masks over a (T', H', W') token grid.

    ``gen(B, grid_size)`` returns ``(context (B, Kc), target (B, Kt))`` LongTensors of token indices (token
    ``t*H'*W' + h*W' + w``, sorted ascending). Each sample masks the union of ``num_blocks`` blocks of one size
    (drawn once per batch: spatial scale, aspect ratio, temporal scale) at random positions; the context is the
    rest. ``mask_ratio`` (default 0.8) picks the blocks' spatial scale so the union covers that fraction of the
    tokens on average (calibrated once per grid by a seeded Monte-Carlo bisection); to give ``spatial_scale``
    explicitly, as the official recipe does, set ``mask_ratio=None``. Lengths are equal across the batch (the
    batch minimum), as in the official collator, so realised ratios are slightly below the union's.
    """

    def __init__(self, num_blocks: int = 8, mask_ratio: float | None = 0.8,
                 spatial_scale: tuple[float, float] | None = None,
                 temporal_scale: tuple[float, float] = (1.0, 1.0),
                 aspect_ratio: tuple[float, float] = (0.75, 1.5),
                 max_context: int | None = None) -> None:
        if int(num_blocks) < 1:
            raise ConfigError(f"MultiBlock3DMaskGenerator.num_blocks={num_blocks!r}: expected an int >= 1.")
        if (mask_ratio is None) == (spatial_scale is None):
            raise ConfigError(
                "MultiBlock3DMaskGenerator: set exactly one of mask_ratio (block scale chosen to mask that fraction) "
                f"and spatial_scale (explicit block scale); got mask_ratio={mask_ratio!r}, "
                f"spatial_scale={spatial_scale!r}. For the official recipe use mask_ratio=None, "
                "spatial_scale=(0.15, 0.15).")
        if mask_ratio is not None and not 0.0 < float(mask_ratio) < 1.0:
            raise ConfigError(f"MultiBlock3DMaskGenerator.mask_ratio={mask_ratio!r}: expected 0 < mask_ratio < 1 "
                              "(training guide: 0.8, sweep 0.6-0.9).")
        if max_context is not None and int(max_context) < 1:
            raise ConfigError(f"MultiBlock3DMaskGenerator.max_context={max_context!r}: expected None or an int >= 1.")
        self.num_blocks = int(num_blocks)
        self.mask_ratio = None if mask_ratio is None else float(mask_ratio)
        self.spatial_scale = None if spatial_scale is None else _check_range(spatial_scale, "spatial_scale", 0.0, 1.0)
        self.temporal_scale = _check_range(temporal_scale, "temporal_scale", 0.0, 1.0)
        self.aspect_ratio = _check_range(aspect_ratio, "aspect_ratio", 1e-3, 1e3)
        self.max_context = None if max_context is None else int(max_context)
        self._calibrated: dict[tuple[int, int, int], float] = {}  # grid -> spatial scale meeting mask_ratio

    def __repr__(self) -> str:
        knob = f"mask_ratio={self.mask_ratio}" if self.mask_ratio is not None else f"spatial_scale={self.spatial_scale}"
        return f"MultiBlock3DMaskGenerator(num_blocks={self.num_blocks}, {knob}, temporal_scale={self.temporal_scale})"

    # -- block geometry -------------------------------------------------------------------------------------------
    def _block_sizes(self, count: int, grid: tuple[int, int, int], scale: tuple[float, float],
                     generator: torch.Generator | None) -> Tensor:
        """(count, 3) block sizes (t, h, w) in tokens, as the official generator computes them."""
        t_grid, h_grid, w_grid = grid
        r = torch.rand(count, 3, generator=generator, dtype=torch.float64)  # (count, 3)
        t_scale = self.temporal_scale[0] + r[:, 0] * (self.temporal_scale[1] - self.temporal_scale[0])
        s_scale = scale[0] + r[:, 1] * (scale[1] - scale[0])
        aspect = self.aspect_ratio[0] + r[:, 2] * (self.aspect_ratio[1] - self.aspect_ratio[0])
        t = (t_grid * t_scale).floor().clamp(1, t_grid)
        area = (h_grid * w_grid * s_scale).floor()
        h = (area * aspect).sqrt().round().clamp(1, h_grid)
        w = (area / aspect).sqrt().round().clamp(1, w_grid)
        return torch.stack([t, h, w], dim=1).long()  # (count, 3)

    def _union(self, sizes: Tensor, grid: tuple[int, int, int], generator: torch.Generator | None) -> Tensor:
        """Boolean (R, N) union of ``num_blocks`` blocks per row at random positions; ``sizes`` is (R, 3)."""
        rows = sizes.shape[0]
        axes = []
        for dim, length in enumerate(grid):
            size = sizes[:, dim, None]  # (R, 1)
            start = (torch.rand(rows, self.num_blocks, generator=generator) * (length - size + 1)).floor()  # (R, n)
            pos = torch.arange(length)  # (L,)
            axes.append((pos >= start[..., None]) & (pos < (start + size)[..., None]))  # (R, n, L)
        in_t, in_h, in_w = axes
        blocks = in_t[:, :, :, None, None] & in_h[:, :, None, :, None] & in_w[:, :, None, None, :]  # (R, n, T', H', W')
        return blocks.any(dim=1).flatten(1)  # (R, N)

    def spatial_scale_for(self, grid_size) -> tuple[float, float]:
        """The (min, max) spatial block scale used on this grid: explicit, or calibrated from ``mask_ratio``."""
        grid = check_grid(grid_size, "MultiBlock3DMaskGenerator")
        if self.spatial_scale is not None:
            return self.spatial_scale
        if grid not in self._calibrated:
            self._calibrated[grid] = self._calibrate(grid)
        s = self._calibrated[grid]
        return s, s

    def _calibrate(self, grid: tuple[int, int, int], samples: int = 512, steps: int = 16) -> float:
        """Bisection on the spatial scale so that the mean union fraction equals ``mask_ratio``."""
        low, high = 1.0 / (grid[1] * grid[2]), 1.0
        for _ in range(steps):
            mid = 0.5 * (low + high)
            g = torch.Generator().manual_seed(0)  # common random numbers: the estimate is monotone in the scale
            sizes = self._block_sizes(samples, grid, (mid, mid), g)
            covered = self._union(sizes, grid, g).float().mean().item()
            low, high = (mid, high) if covered < self.mask_ratio else (low, mid)
        return 0.5 * (low + high)

    # -- sampling -------------------------------------------------------------------------------------------------
    def sample_masked(self, batch_size: int, grid_size, generator: torch.Generator | None = None) -> Tensor:
        """Boolean (B, N) mask, True where a token is to be predicted; every row keeps at least one visible token."""
        grid = check_grid(grid_size, "MultiBlock3DMaskGenerator")
        scale = self.spatial_scale_for(grid)
        sizes = self._block_sizes(1, grid, scale, generator).expand(batch_size, 3)  # (B, 3): one size per batch
        masked = self._union(sizes, grid, generator)  # (B, N)
        for _ in range(_MAX_RESAMPLES):  # the official generator resamples samples whose context is empty
            full = masked.all(dim=1)
            if not bool(full.any()):
                break
            masked[full] = self._union(sizes[full], grid, generator)
        full = masked.all(dim=1)
        if bool(full.any()):  # blocks as large as the grid: keep one random token visible per such sample
            keep = torch.randint(0, masked.shape[1], (int(full.sum()),), generator=generator)
            rows = masked[full]
            rows[torch.arange(rows.shape[0]), keep] = False
            masked[full] = rows
        return masked
