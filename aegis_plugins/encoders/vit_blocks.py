"""Pre-norm transformer blocks and the 3D tubelet patch embedding of a video ViT.

Dosovitskiy et al., "An Image is Worth 16x16 Words" (ViT), 2021; Bardes et al., V-JEPA, 2024. Module and parameter
names (``patch_embed.proj``, ``attn.qkv``, ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``, ``norm1``, ``norm2``) match the
official V-JEPA release so its checkpoints map one to one. Attention is one fused qkv linear plus
``F.scaled_dot_product_attention``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["PatchEmbed3D", "Attention", "MLP", "Block", "maybe_checkpoint"]


class PatchEmbed3D(nn.Module):
    """Cut (B, C, T, H, W) into tubelets of (tubelet_size, patch_size, patch_size) and embed each: (B, N, D).

    Tokens come out in (t, h, w) order, w fastest (a Conv3d with stride = kernel, then flatten). ``patches`` plus
    ``embed_patches`` compute the same map as a linear on raw tubelets, so a caller can embed a subset only.
    """

    def __init__(self, patch_size: int = 16, tubelet_size: int = 2, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=(tubelet_size, patch_size, patch_size),
                              stride=(tubelet_size, patch_size, patch_size))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.proj(video).flatten(2).transpose(1, 2).contiguous()  # (B, N, D)

    def patches(self, video: torch.Tensor) -> torch.Tensor:
        """The raw tubelets (B, N, C * tubelet * patch * patch), flattened in the conv weight's (C, t, p, p) order."""
        b, c, t, h, w = video.shape
        tub, pat = self.tubelet_size, self.patch_size
        x = video.reshape(b, c, t // tub, tub, h // pat, pat, w // pat, pat)  # (B, C, T', t, H', p, W', p)
        return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, -1, c * tub * pat * pat)  # (B, N, C*t*p*p)

    def embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """The conv as a linear map on raw tubelets: (..., C * t * p * p) -> (..., D); same weights as ``proj``."""
        return F.linear(patches, self.proj.weight.flatten(1), self.proj.bias)


class Attention(nn.Module):
    """Multi-head self-attention on (B, N, D) with a fused qkv projection (q, k, v packed in that order)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).view(batch, tokens, 3, self.num_heads, dim // self.num_heads)  # (B, N, 3, h, D/h)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, N, D/h)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, D/h)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))  # (B, N, D)


class MLP(nn.Module):
    """Two linears with an exact GELU between: (B, N, D) -> (B, N, hidden) -> (B, N, D)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)); (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def maybe_checkpoint(module: nn.Module, enabled: bool, *args):
    """Call ``module(*args)``, through activation checkpointing when ``enabled`` and gradients are being taken (the
    activations inside ``module`` are recomputed in backward instead of kept: less memory, one more forward)."""
    if enabled and torch.is_grad_enabled() and module.training:
        return checkpoint(module, *args, use_reentrant=False)
    return module(*args)
