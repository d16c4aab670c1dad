"""Shared helpers of the mask generators: boolean token masks -> equal-length index tensors per batch."""
from __future__ import annotations

import torch
from torch import Tensor

from aegis.errors import ConfigError

__all__ = ["split_indices", "check_grid", "IndexMaskGenerator"]


def check_grid(grid_size, where: str) -> tuple[int, int, int]:
    """Return ``grid_size`` as three positive ints (T', H', W') or raise a ConfigError naming ``where``."""
    try:
        t, h, w = (int(v) for v in grid_size)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: grid_size must be three ints (T', H', W'); got {grid_size!r}.") from None
    if min(t, h, w) < 1:
        raise ConfigError(f"{where}: grid_size must be positive; got {(t, h, w)}.")
    return t, h, w


def split_indices(masked: Tensor, generator: torch.Generator | None = None,
                  max_context: int | None = None) -> tuple[Tensor, Tensor]:
    """Turn a boolean mask (B, N) (True = predict) into sorted index tensors of equal length per batch.

    Returns ``(context (B, Kc), target (B, Kt))`` with Kc = min over the batch of visible tokens (capped by
    ``max_context``) and Kt = min over the batch of masked tokens, as the official V-JEPA collator does. Where a
    sample has more tokens than the batch minimum, a random subset is kept (the official collator keeps the
    lowest indices, which drops late frames first); indices stay sorted ascending.
    """
    batch, _ = masked.shape
    n_target = int(masked.sum(1).min())
    n_context = int((~masked).sum(1).min())
    if max_context is not None:
        n_context = min(n_context, max_context)
    noise = torch.rand(masked.shape, generator=generator)  # (B, N)
    # keys in [0, 1) for the wanted side, [2, 3) for the other: the first K of the order are a random subset
    target = torch.argsort(noise + 2.0 * (~masked), dim=1)[:, :n_target].sort(dim=1).values  # (B, Kt)
    context = torch.argsort(noise + 2.0 * masked, dim=1)[:, :n_context].sort(dim=1).values  # (B, Kc)
    return context, target


class IndexMaskGenerator:
    """Base of the mask generators: a subclass defines ``sample_masked(B, grid, generator) -> (B, N) bool`` (True =
    predict); calling the generator turns that into ``(context (B, Kc), target (B, Kt))`` index tensors."""

    max_context: int | None = None

    def sample_masked(self, batch_size: int, grid_size, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define sample_masked")

    def __call__(self, batch_size: int, grid_size, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        masked = self.sample_masked(batch_size, grid_size, generator)
        context, target = split_indices(masked, generator, self.max_context)
        if device is not None:
            context, target = context.to(device), target.to(device)
        return context, target
