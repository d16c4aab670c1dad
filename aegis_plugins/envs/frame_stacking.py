"""Frame stacking happens outside the envs: an env returns one frame per step, and on the RL side SB3's
``VecFrameStack`` (the RL runner's ``frame_stack``) concatenates the last T frames on the channel axis, oldest first.
This module holds what readers of such stacks need: the stacked layout turned into a video clip.
"""
from __future__ import annotations

import numpy as np

__all__ = ["frames_to_clip", "FRAME_STACK_MOVED"]

FRAME_STACK_MOVED = ("frame_stack is no longer an env argument: an env returns one frame per step and SB3's "
                     "VecFrameStack stacks them. Set the RL runner's frame_stack (train_cfg.frame_stack) instead and "
                     "remove it from env.")


def frames_to_clip(obs: np.ndarray, frame_stack: int) -> np.ndarray:
    """Turn stacked observations (B, H, W, 3 * T) (oldest frame first, as VecFrameStack stacks channel-last images)
    into a video clip batch (B, C, T, H, W)."""
    b, h, w, _ = obs.shape
    clip = obs.reshape(b, h, w, frame_stack, 3)  # (B, H, W, T, C)
    return np.ascontiguousarray(clip.transpose(0, 4, 3, 1, 2))  # (B, C, T, H, W)
