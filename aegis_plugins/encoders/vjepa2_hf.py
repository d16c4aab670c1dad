"""V-JEPA 2 encoders through Hugging Face transformers.

Assran et al., "V-JEPA 2: Self-Supervised Video Models Enable Understanding, Prediction and Planning", 2025;
``transformers.VJEPA2Model``. Only the encoder (3D RoPE ViT) is kept; the predictor is dropped after loading.
"""
from __future__ import annotations

import math
import os
from typing import Any, Literal

import torch
from torch import nn

from aegis.errors import CheckpointError, ConfigError, DataError, MissingDependencyError
from aegis.annotations import ExistingPath

__all__ = ["VJEPA2HFEncoder"]


class VJEPA2HFEncoder(nn.Module):
    """Turn a video clip into patch tokens with a V-JEPA 2 encoder from transformers.

    Same contract as VJEPAEncoder: (B, C, T, H, W) floats in, (B, N, D) tokens out in (t, h, w) order
    (``output="pooled"``: (B, D) token mean), where N = (T // tubelet_size) * (H // patch_size) * (W // patch_size)
    and D = hidden_size. ``keep_indices`` (B, K) or (M * B, K) runs the blocks on the kept tokens only, their 3D
    RoPE positions taken from the indices, as V-JEPA 2 encodes its context. Weights come from
    ``VJEPA2Model.from_pretrained(pretrained)`` (a local folder, never a download); without ``pretrained`` a
    randomly initialised model is built from ``config`` (VJEPA2Config fields). ``frozen`` turns off gradients and
    keeps eval mode.
    """

    def __init__(self, pretrained: ExistingPath | None = None, config: dict[str, Any] | None = None,
                 output: Literal["tokens", "pooled"] = "tokens", frozen: bool = True,
                 attn_implementation: Literal["sdpa", "eager"] = "sdpa") -> None:
        super().__init__()
        try:
            from transformers import VJEPA2Config, VJEPA2Model
        except ImportError as exc:
            raise MissingDependencyError("VJEPA2HFEncoder needs transformers >= 4.53 (VJEPA2Model): "
                                         "pip install -U transformers") from exc
        if output not in ("tokens", "pooled"):
            raise ConfigError(f"VJEPA2HFEncoder.output={output!r}: expected 'tokens' or 'pooled'.")
        if (pretrained is None) == (config is None):
            raise ConfigError("VJEPA2HFEncoder: set exactly one of `pretrained` (a local folder saved with "
                              "save_pretrained) or `config` (VJEPA2Config fields for a random init).")
        if pretrained is not None:
            if not os.path.isfile(os.path.join(str(pretrained), "config.json")):
                raise CheckpointError(f"VJEPA2HFEncoder.pretrained={str(pretrained)!r} is not a transformers model "
                                      "folder (no config.json); download it once with huggingface-cli and point "
                                      "here, e.g. a snapshot of facebook/vjepa2-vitl-fpc64-256.")
            try:
                model = VJEPA2Model.from_pretrained(str(pretrained), local_files_only=True,
                                                    attn_implementation=attn_implementation)
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"VJEPA2HFEncoder: could not load {str(pretrained)!r}: {exc}") from exc
        else:
            try:
                hf_config = VJEPA2Config(**config)
            except TypeError as exc:
                raise ConfigError(f"VJEPA2HFEncoder.config: {exc}") from exc
            hf_config._attn_implementation = attn_implementation
            model = VJEPA2Model(hf_config)
        cfg = model.config
        self.encoder = model.encoder  # the predictor is not needed for features
        del model
        self.embed_dim = cfg.hidden_size
        self.patch_size = cfg.patch_size
        self.tubelet_size = cfg.tubelet_size
        self.in_chans = cfg.in_chans
        self.num_frames, self.img_size = cfg.frames_per_clip, cfg.crop_size
        self.grid_size = (cfg.frames_per_clip // cfg.tubelet_size, cfg.crop_size // cfg.patch_size,
                          cfg.crop_size // cfg.patch_size)
        self.num_tokens = math.prod(self.grid_size)
        self.output = output
        self.frozen = frozen
        if frozen:
            self.requires_grad_(False)
            self.eval()

    def train(self, mode: bool = True) -> VJEPA2HFEncoder:
        """Switch train/eval mode; a frozen encoder stays in eval mode."""
        return super().train(mode and not self.frozen)

    def grid_of(self, video_shape) -> tuple[int, int, int] | None:
        """The (T', H', W') token grid of a (B, C, T, H, W) input shape; None with ``output="pooled"``."""
        if self.output == "pooled":
            return None
        _, _, frames, height, width = video_shape
        return frames // self.tubelet_size, height // self.patch_size, width // self.patch_size

    def forward(self, video: torch.Tensor, keep_indices: torch.Tensor | None = None) -> torch.Tensor:
        if video.ndim != 5 or video.shape[1] != self.in_chans or not video.is_floating_point():
            raise DataError(f"VJEPA2HFEncoder expects float video (B, C={self.in_chans}, T, H, W); got "
                            f"{video.dtype} {tuple(video.shape)}.")
        if video.shape[3] % self.patch_size or video.shape[4] % self.patch_size:
            raise DataError(f"VJEPA2HFEncoder: H={video.shape[3]} and W={video.shape[4]} must be multiples of "
                            f"patch_size={self.patch_size}.")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            x = self.encoder.embeddings(video.transpose(1, 2))  # (B, T, C, H, W) in -> (B, N, D)
            positions = None
            if keep_indices is not None:
                from .vjepa import gather_tokens
                x = gather_tokens(x, keep_indices)  # (B', K, D)
                positions = keep_indices.to(device=x.device, dtype=torch.int64)  # (B', K) grid ids for RoPE
            for layer in self.encoder.layer:
                x = layer(x, positions)[0]  # (B', K or N, D)
            x = self.encoder.layernorm(x)
            return x.mean(dim=1) if self.output == "pooled" else x  # (B', D) or (B', K or N, D)
