"""The narrow transformer predictor of JEPA pretraining.

Bardes et al., "Revisiting Feature Prediction for Learning Visual Representations from Video" (V-JEPA, 2024),
section 3.1: context tokens, mapped to the predictor width, plus one learnable mask token per masked position, each
with its fixed 3D sine-cosine position embedding, go through a narrow ViT; the outputs at the mask tokens, mapped
back to the encoder width, are the predictions of the target encoder's features.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from aegis.errors import ConfigError, DataError
from aegis_plugins.encoders.pos_embed import sincos_3d
from aegis_plugins.encoders.vit_blocks import Block, maybe_checkpoint

__all__ = ["JEPAPredictor"]


class JEPAPredictor(nn.Module):
    """Predict (B, Kt, De) target latents from (B, Kc, De) context tokens and both index sets.

    ``forward(context, context_idx (B, Kc), target_idx (B, Kt), mask_index=0)``: context tokens go through a
    linear map De -> D (``embed_dim``) and get the position embeddings of their indices; Kt copies of mask token
    ``mask_index`` get the target positions' embeddings; both sequences, concatenated to (B, Kc + Kt, D), run
    through ``depth`` pre-norm blocks, and the outputs at the mask tokens are normalised and mapped back to De.
    No sorting is needed: attention does not depend on token order, only on the position embeddings.
    ``encoder_embed_dim``, ``grid_size`` (T', H', W') and ``num_mask_tokens`` are injected by the model (the
    ``LatentPredictor`` contract of ``aegis.contracts``). ``gradient_checkpointing`` recomputes each block's
    activations in backward instead of keeping them (less memory, about one more forward pass).
    """

    def __init__(self, encoder_embed_dim: int, grid_size: tuple[int, int, int], embed_dim: int = 384,
                 depth: int = 6, num_heads: int = 12, mlp_ratio: float = 4.0, num_mask_tokens: int = 1,
                 uniform_power: bool = True, zero_init_mask_tokens: bool = True, norm_eps: float = 1e-6,
                 gradient_checkpointing: bool = False) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ConfigError(f"JEPAPredictor: embed_dim={embed_dim} is not divisible by num_heads={num_heads}; "
                              f"nearest valid num_heads: {_nearest_divisor(embed_dim, num_heads)}.")
        if depth < 1 or num_mask_tokens < 1:
            raise ConfigError(f"JEPAPredictor: depth={depth} and num_mask_tokens={num_mask_tokens} must be >= 1.")
        self.encoder_embed_dim, self.embed_dim = int(encoder_embed_dim), int(embed_dim)
        self.grid_size = tuple(int(v) for v in grid_size)
        self.num_tokens = math.prod(self.grid_size)
        self.predictor_embed = nn.Linear(self.encoder_embed_dim, embed_dim)
        self.mask_tokens = nn.Parameter(torch.zeros(num_mask_tokens, embed_dim))  # (M, D)
        self.register_buffer("pos_embed", sincos_3d(embed_dim, self.grid_size, uniform_power), persistent=False)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, True, norm_eps) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.predictor_proj = nn.Linear(embed_dim, self.encoder_embed_dim)
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self._init_weights(zero_init_mask_tokens)

    def _init_weights(self, zero_init_mask_tokens: bool) -> None:
        """Official init: truncated normal (std 0.02) linears, zero biases, block i's output projections / sqrt(2i)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if not zero_init_mask_tokens:
            nn.init.trunc_normal_(self.mask_tokens, std=0.02)
        with torch.no_grad():
            for layer_id, block in enumerate(self.blocks, start=1):
                block.attn.proj.weight.div_(math.sqrt(2.0 * layer_id))
                block.mlp.fc2.weight.div_(math.sqrt(2.0 * layer_id))

    def forward(self, context: Tensor, context_idx: Tensor, target_idx: Tensor, mask_index: int = 0) -> Tensor:
        batch, n_context, _ = context.shape
        if context_idx.shape != (batch, n_context) or target_idx.ndim != 2 or target_idx.shape[0] != batch:
            raise DataError(f"JEPAPredictor: context {tuple(context.shape)} needs context_idx ({batch}, {n_context}) "
                            f"and target_idx ({batch}, Kt); got {tuple(context_idx.shape)} and "
                            f"{tuple(target_idx.shape)}.")
        n_target = target_idx.shape[1]
        x = self.predictor_embed(context) + self.pos_embed[context_idx]  # (B, Kc, D)
        mask_token = self.mask_tokens[mask_index % self.mask_tokens.shape[0]]  # (D,)
        queries = mask_token + self.pos_embed[target_idx]  # (B, Kt, D)
        x = torch.cat([x, queries], dim=1)  # (B, Kc + Kt, D)
        for block in self.blocks:
            x = maybe_checkpoint(block, self.gradient_checkpointing, x)
        x = self.norm(x[:, n_context:])  # (B, Kt, D)
        return self.predictor_proj(x).view(batch, n_target, self.encoder_embed_dim)  # (B, Kt, De)


def _nearest_divisor(dim: int, heads: int) -> int:
    divisors = [d for d in range(1, dim + 1) if dim % d == 0]
    return min(divisors, key=lambda d: abs(d - heads))
