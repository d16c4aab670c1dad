"""Future-prediction masks: hide the last time steps of the clip, so the context is the past only.

Multi-block and tube masks hide the same spatial region at every time step, so most of a masked token can be read off
its visible neighbours at the same instant. Hiding whole future time steps instead makes the predictor extrapolate
the latent trajectory from the past (how fast the water rises, where the fire front will be), the prediction
task the training guide's physics-aware objective asks for. It can be one mask group beside the V-JEPA ones.
"""
from __future__ import annotations

import torch
from torch import Tensor

from aegis.errors import ConfigError

from ._indices import IndexMaskGenerator, check_grid

__all__ = ["FutureMaskGenerator"]


class FutureMaskGenerator(IndexMaskGenerator):
    """Mask every token of the last ``future_steps`` of the T' time steps (optionally a random count in a range).

    ``gen(B, grid_size)`` returns ``(context (B, Kc), target (B, Kt))`` token indices (``t*H'*W' + h*W' + w``,
    sorted): Kt = future_steps * H' * W' (the future), Kc = the rest (the past; optionally capped by
    ``max_context``). ``future_steps`` is an int, or a (low, high) pair from which one count per batch is drawn, so
    index tensors keep one length per batch.
    """

    def __init__(self, future_steps: int | tuple[int, int] = 1, max_context: int | None = None) -> None:
        low, high = (future_steps, future_steps) if isinstance(future_steps, int) else tuple(future_steps)
        if not 1 <= int(low) <= int(high):
            raise ConfigError(f"FutureMaskGenerator.future_steps={future_steps!r}: expected an int >= 1 or a pair "
                              "(low, high) with 1 <= low <= high.")
        if max_context is not None and int(max_context) < 1:
            raise ConfigError(f"FutureMaskGenerator.max_context={max_context!r}: expected None or an int >= 1.")
        self.future_steps = (int(low), int(high))
        self.max_context = None if max_context is None else int(max_context)

    def __repr__(self) -> str:
        return f"FutureMaskGenerator(future_steps={self.future_steps})"

    def sample_masked(self, batch_size: int, grid_size, generator: torch.Generator | None = None) -> Tensor:
        """Boolean (B, N) mask, True on the tokens of the last ``future_steps`` time steps."""
        t, h, w = check_grid(grid_size, "FutureMaskGenerator")
        low, high = self.future_steps
        if high >= t:
            raise ConfigError(f"FutureMaskGenerator: future_steps={self.future_steps} leaves no past on a grid with "
                              f"T'={t} time steps; use future_steps <= {t - 1} (or more frames / a smaller "
                              "tubelet_size).")
        steps = int(torch.randint(low, high + 1, (1,), generator=generator)) if high > low else low
        masked_time = torch.arange(t) >= t - steps  # (T',)
        return masked_time[:, None].expand(t, h * w).reshape(1, t * h * w).expand(batch_size, -1).clone()  # (B, N)
