"""The V-JEPA video ViT encoder.

Bardes, Garrido, Ponce, Chen, Rabbat, LeCun, Assran, Ballas, "Revisiting Feature Prediction for Learning Visual
Representations from Video" (V-JEPA), 2024, and the official release facebookresearch/jepa, whose architecture this
matches weight for weight: Conv3d tubelet embedding, fixed 3D sine-cosine position embeddings, pre-norm blocks
(LayerNorm eps 1e-6, fused qkv, exact GELU) and a final LayerNorm.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

from aegis.errors import ConfigError, DataError, closest
from aegis.annotations import ExistingPath

from .pos_embed import sincos_3d
from .vit_blocks import Block, PatchEmbed3D, maybe_checkpoint

__all__ = ["VJEPAEncoder", "VIT_ARCHS", "gather_tokens"]

# (width, depth, heads) of the official ViT sizes; mlp_ratio is 4 for all of them.
VIT_ARCHS = {
    "vit_tiny": (192, 12, 3),
    "vit_small": (384, 12, 6),
    "vit_base": (768, 12, 12),
    "vit_large": (1024, 24, 16),
    "vit_huge": (1280, 32, 16),
}


class VJEPAEncoder(nn.Module):
    """Turn a video clip into patch tokens with a V-JEPA ViT.

    Takes (B, C, T, H, W) floats and returns (B, N, D) tokens in (t, h, w) order, w fastest, where
    N = (T // tubelet_size) * (H // patch_size) * (W // patch_size) and D = embed_dim; with ``output="pooled"``
    the mean over tokens, (B, D). Given ``keep_indices`` (B, K) it embeds every patch, adds position embeddings,
    gathers the K kept tokens once and runs the blocks on those only: (B, K, D). ``keep_indices`` may also be
    (M * B, K), M masks stacked mask-major as the official collator does; the clips are then repeated M times.
    Sizes come from ``arch`` unless ``embed_dim``/``depth``/``num_heads`` are given. Inputs of another size than
    (num_frames, img_size, img_size) get trilinearly interpolated position embeddings, as in the official code.
    ``checkpoint`` loads an official V-JEPA ``.pth.tar`` (``checkpoint_key`` picks ``target_encoder`` or
    ``encoder``), an AEGIS training checkpoint or a plain state dict. ``frozen`` turns off gradients and keeps
    eval mode. ``gradient_checkpointing`` recomputes each block's activations in backward instead of keeping them
    (activation memory of one block instead of ``depth``, for about one more forward pass; the GPU recipe's option).
    """

    def __init__(self, arch: str | None = "vit_tiny", embed_dim: int | None = None, depth: int | None = None,
                 num_heads: int | None = None, patch_size: int = 16, tubelet_size: int = 2, num_frames: int = 16,
                 img_size: int = 224, in_chans: int = 3, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 norm_eps: float = 1e-6, uniform_power: bool = True,
                 output: Literal["tokens", "pooled"] = "tokens", checkpoint: ExistingPath | None = None,
                 checkpoint_key: str | None = "target_encoder", frozen: bool = False,
                 gradient_checkpointing: bool = False) -> None:
        super().__init__()
        embed_dim, depth, num_heads = _resolve_sizes(arch, embed_dim, depth, num_heads)
        if output not in ("tokens", "pooled"):
            raise ConfigError(f"VJEPAEncoder.output={output!r}: expected 'tokens' or 'pooled'.")
        if embed_dim % num_heads:
            raise ConfigError(f"VJEPAEncoder: embed_dim={embed_dim} is not divisible by num_heads={num_heads}.")
        if num_frames % tubelet_size or img_size % patch_size:
            raise ConfigError(f"VJEPAEncoder: num_frames={num_frames} must be a multiple of tubelet_size="
                              f"{tubelet_size} and img_size={img_size} a multiple of patch_size={patch_size}.")
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.num_frames = num_frames
        self.img_size = img_size
        self.in_chans = in_chans
        self.uniform_power = uniform_power
        self.output = output
        self.grid_size = (num_frames // tubelet_size, img_size // patch_size, img_size // patch_size)
        self.num_tokens = math.prod(self.grid_size)

        self.patch_embed = PatchEmbed3D(patch_size, tubelet_size, in_chans, embed_dim)
        self.register_buffer("pos_embed", sincos_3d(embed_dim, self.grid_size, uniform_power).unsqueeze(0))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias, norm_eps) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self._init_weights()

        if checkpoint is not None:
            from .vjepa_checkpoint import load_vjepa_checkpoint
            load_vjepa_checkpoint(self, checkpoint, checkpoint_key)
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self.frozen = frozen
        if frozen:
            self.requires_grad_(False)
            self.eval()

    def _init_weights(self) -> None:
        """Official init: truncated normal (std 0.02) weights, zero biases, and the output projections of block i
        divided by sqrt(2 i)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv3d)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            for layer_id, block in enumerate(self.blocks, start=1):
                block.attn.proj.weight.div_(math.sqrt(2.0 * layer_id))
                block.mlp.fc2.weight.div_(math.sqrt(2.0 * layer_id))

    def train(self, mode: bool = True) -> VJEPAEncoder:
        """Switch train/eval mode; a frozen encoder stays in eval mode."""
        return super().train(mode and not self.frozen)

    def grid_of(self, video_shape: torch.Size | tuple[int, ...]) -> tuple[int, int, int] | None:
        """The (T', H', W') token grid of a (B, C, T, H, W) input shape; None with ``output="pooled"``."""
        return None if self.output == "pooled" else self._patch_grid(video_shape)

    def _patch_grid(self, video_shape) -> tuple[int, int, int]:
        _, _, frames, height, width = video_shape
        return frames // self.tubelet_size, height // self.patch_size, width // self.patch_size

    def _pos_embed_for(self, grid: tuple[int, int, int]) -> torch.Tensor:
        if grid == self.grid_size:
            return self.pos_embed  # (1, N, D)
        table = self.pos_embed.reshape(1, *self.grid_size, self.embed_dim).permute(0, 4, 1, 2, 3)  # (1, D, T', H', W')
        table = F.interpolate(table, size=grid, mode="trilinear")  # (1, D, t, h, w)
        return table.permute(0, 2, 3, 4, 1).reshape(1, -1, self.embed_dim)  # (1, N', D)

    def _check_input(self, video: torch.Tensor) -> None:
        if video.ndim != 5 or video.shape[1] != self.in_chans:
            raise DataError(f"VJEPAEncoder expects video (B, C={self.in_chans}, T, H, W); got shape "
                            f"{tuple(video.shape)}. Clips are (B, C, T, H, W) everywhere (docs/concepts.md).")
        _, _, frames, height, width = video.shape
        if frames % self.tubelet_size or height % self.patch_size or width % self.patch_size:
            raise DataError(f"VJEPAEncoder: T={frames} must be a multiple of tubelet_size={self.tubelet_size} and "
                            f"H={height}, W={width} multiples of patch_size={self.patch_size}.")
        if not video.is_floating_point():
            raise DataError(f"VJEPAEncoder expects float video, got {video.dtype}; add NormalizeVideo to the pipeline.")

    def embed(self, video: torch.Tensor) -> torch.Tensor:
        """Patch embeddings plus position embeddings of every token: (B, C, T, H, W) -> (B, N, D)."""
        self._check_input(video)
        return self.patch_embed(video) + self._pos_embed_for(self._patch_grid(video.shape))  # (B, N, D)

    def embed_kept(self, video: torch.Tensor, keep_indices: torch.Tensor) -> torch.Tensor:
        """Patch plus position embeddings of the kept tokens only: (B, C, T, H, W), (B', K) -> (B', K, D).

        Equal to ``gather_tokens(self.embed(video), keep_indices)``, but the raw tubelets are gathered first and
        only the kept ones are embedded (a linear with the conv's weights), which saves the patch embedding and
        its backward for the dropped tokens.
        """
        self._check_input(video)
        patches = gather_tokens(self.patch_embed.patches(video), keep_indices)  # (B', K, C*t*p*p)
        pos = self._pos_embed_for(self._patch_grid(video.shape))[0]  # (N, D)
        return self.patch_embed.embed_patches(patches) + pos[keep_indices.to(pos.device, torch.int64)]  # (B', K, D)

    def forward(self, video: torch.Tensor, keep_indices: torch.Tensor | None = None) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            with record_function("vjepa.patch_embed"):  # a label for torch.profiler traces
                x = self.embed(video) if keep_indices is None else self.embed_kept(video, keep_indices)  # (B', K|N, D)
            for block in self.blocks:
                x = maybe_checkpoint(block, self.gradient_checkpointing, x)
            x = self.norm(x)  # (B', K or N, D)
            return x.mean(dim=1) if self.output == "pooled" else x  # (B', D) or (B', K or N, D)


def gather_tokens(tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Keep ``indices`` (B', K) of ``tokens`` (B, N, D) -> (B', K, D); B' = M * B takes the clips mask-major (row
    i of ``indices`` indexes clip i % B), as the official ``apply_masks`` stacks M masks. One indexing op, no loop."""
    batch, num, dim = tokens.shape
    if indices.ndim != 2 or indices.shape[0] % batch or indices.dtype not in (torch.int64, torch.int32):
        raise DataError(f"keep_indices must be an integer tensor (B, K) or (M * B, K) with B={batch}; got "
                        f"{indices.dtype} of shape {tuple(indices.shape)}.")
    indices = indices.to(device=tokens.device, dtype=torch.int64)
    if indices.shape[0] == batch:
        return torch.gather(tokens, 1, indices.unsqueeze(-1).expand(-1, -1, dim))  # (B, K, D)
    clip = torch.arange(indices.shape[0], device=tokens.device) % batch  # (B',)
    return tokens.reshape(batch * num, dim)[clip.unsqueeze(1) * num + indices]  # (B', K, D)


def _resolve_sizes(arch: str | None, embed_dim: int | None, depth: int | None,
                   num_heads: int | None) -> tuple[int, int, int]:
    if arch is None:
        missing = [n for n, v in (("embed_dim", embed_dim), ("depth", depth), ("num_heads", num_heads)) if v is None]
        if missing:
            raise ConfigError(f"VJEPAEncoder: with arch=None set {', '.join(missing)} explicitly, or name an arch: "
                              f"{', '.join(VIT_ARCHS)}.")
        return embed_dim, depth, num_heads
    if arch not in VIT_ARCHS:
        near = closest(arch, VIT_ARCHS)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise ConfigError(f"VJEPAEncoder.arch={arch!r} is not a known ViT size.{hint} Known: {', '.join(VIT_ARCHS)}"
                          " (or arch=None with explicit embed_dim, depth, num_heads).")
    width, layers, heads = VIT_ARCHS[arch]
    return embed_dim or width, depth or layers, num_heads or heads
