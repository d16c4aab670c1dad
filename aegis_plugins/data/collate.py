"""Batch collation for video samples: ``video_collate`` stacks clips to (B, C, T, H, W) and keeps metadata as a list."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from aegis.errors import DataError

__all__ = ["video_collate"]


def video_collate(data_batch: Sequence[Mapping]) -> dict:
    """Turn B samples ``dict(inputs=(C, T, H, W), data_samples=dict)`` into ``dict(inputs=(B, C, T, H, W),
    data_samples=[dict] * B)``; clips of several views (num_clips, C, T, H, W) stack to (B, num_clips, C, T, H, W)."""
    if not data_batch:
        raise DataError("video_collate got an empty batch")
    inputs = [s["inputs"] for s in data_batch]
    shapes = {tuple(x.shape) for x in inputs}
    if len(shapes) > 1:
        raise DataError(f"video_collate: clips in a batch must share one shape, got {sorted(shapes)}; check that the "
                        "pipeline crops/resizes to a fixed size and samples a fixed video_length")
    return dict(inputs=torch.stack(inputs), data_samples=[dict(s.get("data_samples") or {}) for s in data_batch])
