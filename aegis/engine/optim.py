"""Mixed precision without a GPU: bf16 autocast around the forward pass, on whatever device the model is on.

mmengine's ``AmpOptimWrapper`` asserts a CUDA (or NPU/MLU) device, so ``--amp`` on a CPU-only machine has nothing
to switch to. CPUs with bf16 matrix instructions (AVX512-BF16, AMX) run bf16 matmuls about twice as fast as fp32,
and bf16 keeps fp32's exponent range, so no loss scaling is needed: parameters, gradients and optimizer state stay
fp32 and only the autocast ops (linears, convolutions, attention) compute in bf16.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from aegis.errors import ConfigError

__all__ = ["BF16AutocastOptimWrapper"]


class BF16AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose ``optim_context`` runs the forward pass under ``torch.autocast(bfloat16)``.

    The device type comes from the model's first parameter (``cpu`` on this machine, ``cuda`` on a GPU), so one
    experiment runs unchanged on both. ``aegis run --amp`` picks this wrapper when torch sees no CUDA device.
    """

    def __init__(self, *args, dtype: str = "bfloat16", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if dtype != "bfloat16":
            raise ConfigError(f"BF16AutocastOptimWrapper: dtype={dtype!r}; only 'bfloat16' is supported (float16 "
                              "needs loss scaling: use AmpOptimWrapper on a GPU).")
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module):
        device = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device, dtype=self.cast_dtype):
            yield
