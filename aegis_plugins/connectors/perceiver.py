"""The Perceiver Resampler connector of Flamingo.

Alayrac et al., "Flamingo: a Visual Language Model for Few-Shot Learning", NeurIPS 2022, Sec. 2.1 and App. A.1.1:
learned latents attend (pre-norm) to the concatenation of the visual tokens and themselves, followed by a
feed-forward block, repeated ``depth`` times; learned time embeddings are added to each frame's tokens first.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aegis.errors import ConfigError

from .common import TemporalEmbedding, check_sizes, maybe_checkpoint

__all__ = ["PerceiverResampler"]


class _ResamplerLayer(nn.Module):
    """Latents (B, Q, D) attend to [visual (B, N, D); latents], then a pre-norm GELU MLP; both residual."""

    def __init__(self, dim: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_visual = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.ffn = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, intermediate, bias=False), nn.GELU(),
                                 nn.Linear(intermediate, dim, bias=False))

    def forward(self, latents: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        batch, num_latents, dim = latents.shape
        head_dim = dim // self.heads
        normed = self.norm_latents(latents)
        context = torch.cat([self.norm_visual(visual), normed], dim=1)  # (B, N+Q, D)
        q = self.q(normed).view(batch, num_latents, self.heads, head_dim).transpose(1, 2)  # (B, h, Q, d)
        kv = self.kv(context).view(batch, context.shape[1], 2, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])  # (B, h, Q, d)
        latents = latents + self.proj(out.transpose(1, 2).reshape(batch, num_latents, dim))  # (B, Q, D)
        return latents + self.ffn(latents)


class PerceiverResampler(nn.Module):
    """Flamingo's Perceiver Resampler: visual tokens (B, N, Dv) -> LLM prefix (B, Q, Dllm).

    Visual tokens are projected to ``hidden_size``, get a learned per-time-step embedding (``temporal_pos_embed``;
    needs the encoder grid (T', H', W') in ``forward``), and ``num_query_tokens`` learned latents resample them
    through ``depth`` layers; a final LayerNorm and a linear projection give the LLM width. The knob names match
    :class:`QFormer`'s, so swapping ``type`` is the only change an ablation needs.
    """

    def __init__(self, input_dim: int, output_dim: int, num_query_tokens: int = 32, depth: int = 6,
                 hidden_size: int = 768, num_heads: int = 12, intermediate_size: int = 3072,
                 gradient_checkpointing: bool = False, temporal_pos_embed: bool = True,
                 max_temporal_positions: int = 64) -> None:
        super().__init__()
        check_sizes("PerceiverResampler", dict(input_dim=input_dim, output_dim=output_dim,
                                               num_query_tokens=num_query_tokens, depth=depth, hidden_size=hidden_size,
                                               num_heads=num_heads, intermediate_size=intermediate_size),
                    hidden_size, num_heads)
        self.input_dim, self.output_dim, self.hidden_size = input_dim, output_dim, hidden_size
        self.num_output_tokens = num_query_tokens
        self.gradient_checkpointing = gradient_checkpointing
        self.input_proj = nn.Linear(input_dim, hidden_size)
        self.temporal_embed = (TemporalEmbedding(hidden_size, max_temporal_positions, "PerceiverResampler")
                               if temporal_pos_embed else None)
        self.latents = nn.Parameter(torch.randn(num_query_tokens, hidden_size) * 0.02)  # (Q, D)
        self.layers = nn.ModuleList(_ResamplerLayer(hidden_size, num_heads, intermediate_size) for _ in range(depth))
        self.norm = nn.LayerNorm(hidden_size)
        self.output_proj = nn.Linear(hidden_size, output_dim)

    def forward(self, visual_tokens: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        """Map visual tokens (B, N, Dv) with grid (T', H', W') to the LLM prefix (B, Q, Dllm)."""
        if visual_tokens.dim() != 3 or visual_tokens.shape[-1] != self.input_dim:
            raise ConfigError(f"PerceiverResampler expects visual tokens (B, N, {self.input_dim}); got "
                              f"{tuple(visual_tokens.shape)}. input_dim must equal the encoder's embed_dim.")
        visual = self.input_proj(visual_tokens)  # (B, N, D)
        if self.temporal_embed is not None:
            visual = self.temporal_embed(visual, grid)
        latents = self.latents[None].expand(visual.shape[0], -1, -1)  # (B, Q, D)
        for layer in self.layers:
            latents = maybe_checkpoint(layer, self.gradient_checkpointing, latents, visual)
        return self.output_proj(self.norm(latents))
