"""A small convolutional encoder for RL observations.

Mnih et al., "Human-level control through deep reinforcement learning" (the Nature DQN CNN), 2015. Frames stacked
over T are folded into channels, as in the DQN frame stack.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from aegis.errors import ConfigError, DataError

__all__ = ["SmallCNNEncoder"]


class SmallCNNEncoder(nn.Module):
    """Encode a short clip (B, C, T, H, W) float with a Nature-DQN-style CNN.

    The T frames are folded into C * T input channels; the conv stack (default 32-8x8/4, 64-4x4/2, 64-3x3/1, ReLU)
    gives a (B, c, h, w) map. ``output="pooled"`` flattens it through a linear + ReLU to (B, D) (the DQN head);
    ``"tokens"`` projects each of the h * w cells to D: (B, h * w, D). D = embed_dim.
    """

    def __init__(self, in_chans: int = 3, num_frames: int = 4, img_size: int = 64, embed_dim: int = 512,
                 channels: tuple[int, ...] = (32, 64, 64), kernel_sizes: tuple[int, ...] = (8, 4, 3),
                 strides: tuple[int, ...] = (4, 2, 1), output: Literal["tokens", "pooled"] = "pooled") -> None:
        super().__init__()
        if not len(channels) == len(kernel_sizes) == len(strides):
            raise ConfigError(f"SmallCNNEncoder: channels {tuple(channels)}, kernel_sizes {tuple(kernel_sizes)} and "
                              f"strides {tuple(strides)} must have the same length.")
        if output not in ("tokens", "pooled"):
            raise ConfigError(f"SmallCNNEncoder.output={output!r}: expected 'tokens' or 'pooled'.")
        self.in_chans, self.num_frames, self.img_size = in_chans, num_frames, img_size
        self.embed_dim = embed_dim
        self.output = output
        layers: list[nn.Module] = []
        size, width = img_size, in_chans * num_frames
        for out, kernel, stride in zip(channels, kernel_sizes, strides):
            size = (size - kernel) // stride + 1
            if size < 1:
                raise ConfigError(f"SmallCNNEncoder: img_size={img_size} is too small for kernel_sizes="
                                  f"{tuple(kernel_sizes)}, strides={tuple(strides)}; use img_size >= 36 for the "
                                  "default stack or smaller kernels.")
            layers += [nn.Conv2d(width, out, kernel, stride), nn.ReLU(inplace=True)]
            width = out
        self.convs = nn.Sequential(*layers)
        self.map_size = (size, size)
        self.num_tokens = size * size
        self.grid_size = (1, size, size)  # the conv map's cells, before any pooling
        self.frozen = False  # trained with the policy that owns it
        if output == "pooled":
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(width * size * size, embed_dim), nn.ReLU(inplace=True))
        else:
            self.head = nn.Linear(width, embed_dim)

    def grid_of(self, video_shape) -> tuple[int, int, int] | None:
        """(1, h, w), the conv map's cells, with ``output="tokens"``; None with ``"pooled"`` (one vector per clip)."""
        return self.grid_size if self.output == "tokens" else None

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        expected = (self.in_chans, self.num_frames, self.img_size, self.img_size)
        if video.ndim != 5 or tuple(video.shape[1:]) != expected:
            raise DataError(f"SmallCNNEncoder expects (B, C, T, H, W) = (B, {', '.join(map(str, expected))}); "
                            f"got {tuple(video.shape)}.")
        batch = video.shape[0]
        x = self.convs(video.reshape(batch, -1, self.img_size, self.img_size))  # (B, c, h, w)
        if self.output == "pooled":
            return self.head(x)  # (B, D)
        return self.head(x.flatten(2).transpose(1, 2))  # (B, h * w, D)
