"""Which frames make a clip: ``video_length`` frames taken every ``frame_sample_rate`` frames.

Training takes a random start; evaluation takes the centred clip, or ``num_clips`` evenly spaced clips. A video
shorter than one clip's span is handled by a policy: ``loop`` (wrap around), ``pad`` (repeat the last frame) or
``error`` (a :class:`DataError`). Sampling as in V-JEPA's ``VideoDataset`` (Bardes et al., 2024) and mmaction2's
``SampleFrames``.
"""
from __future__ import annotations

import numpy as np
import torch

from aegis.errors import ConfigError, DataError

__all__ = ["sample_clip_indices", "clip_span", "SAMPLING_MODES", "SHORT_VIDEO_POLICIES"]

SAMPLING_MODES = ("random", "center", "uniform")
SHORT_VIDEO_POLICIES = ("loop", "pad", "error")


def clip_span(video_length: int, frame_sample_rate: int) -> int:
    """Frames a clip covers from its first to its last sampled frame, inclusive."""
    return (video_length - 1) * frame_sample_rate + 1


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not valid; expected one of {', '.join(choices)}")


def sample_clip_indices(num_frames: int, video_length: int = 16, frame_sample_rate: int = 2, num_clips: int = 1,
                        mode: str = "random", short_video: str = "loop",
                        generator: torch.Generator | None = None) -> np.ndarray:
    """Frame indices of ``num_clips`` clips as an int64 array of shape (num_clips, video_length).

    ``mode``: 'random' (uniform start, from torch's RNG so DataLoader workers differ), 'center', or 'uniform'
    (``num_clips`` starts evenly spaced from the first to the last possible start). When ``num_frames`` is shorter
    than the span, every clip starts at 0 and ``short_video`` decides what replaces the missing frames.
    """
    _check_choice("mode", mode, SAMPLING_MODES)
    _check_choice("short_video", short_video, SHORT_VIDEO_POLICIES)
    if video_length < 1 or frame_sample_rate < 1 or num_clips < 1:
        raise ConfigError(f"video_length={video_length}, frame_sample_rate={frame_sample_rate}, num_clips="
                          f"{num_clips}: each must be >= 1")
    if num_frames < 1:
        raise DataError("the video has no frames")
    span = clip_span(video_length, frame_sample_rate)
    offsets = np.arange(video_length, dtype=np.int64) * frame_sample_rate  # (video_length,)
    if num_frames < span:
        if short_video == "error":
            raise DataError(f"the video has {num_frames} frames, fewer than the {span} a clip spans "
                            f"(video_length={video_length}, frame_sample_rate={frame_sample_rate}); "
                            "set short_video='loop' or 'pad', or lower video_length / frame_sample_rate")
        idx = offsets % num_frames if short_video == "loop" else np.minimum(offsets, num_frames - 1)
        return np.tile(idx, (num_clips, 1))  # (num_clips, video_length)
    last_start = num_frames - span
    if mode == "random":
        starts = torch.randint(0, last_start + 1, (num_clips,), generator=generator).numpy().astype(np.int64)
    elif mode == "center" or num_clips == 1:
        starts = np.full(num_clips, last_start // 2, dtype=np.int64)
    else:
        starts = np.round(np.linspace(0, last_start, num_clips)).astype(np.int64)
    return starts[:, None] + offsets[None, :]  # (num_clips, video_length)
