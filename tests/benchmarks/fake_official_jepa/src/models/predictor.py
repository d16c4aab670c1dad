"""Test double of facebookresearch/jepa src/models/predictor.py: the mask-token predictor's interface and names."""
import torch
from torch import nn

from aegis_plugins.encoders.vit_blocks import Block
from src.masks.utils import apply_masks


class VisionTransformerPredictor(nn.Module):
    def __init__(self, img_size=224, patch_size=16, num_frames=1, tubelet_size=2, embed_dim=768,
                 predictor_embed_dim=384, depth=6, num_heads=12, mlp_ratio=4.0, qkv_bias=True, norm_layer=nn.LayerNorm,
                 uniform_power=False, use_mask_tokens=False, num_mask_tokens=2, zero_init_mask_tokens=True, **kwargs):
        super().__init__()
        num_patches = (num_frames // tubelet_size) * (img_size // patch_size) ** 2
        self.predictor_embed = nn.Linear(embed_dim, predictor_embed_dim)
        self.mask_tokens = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, predictor_embed_dim))
                                            for _ in range(num_mask_tokens))
        self.predictor_pos_embed = nn.Parameter(torch.zeros(1, num_patches, predictor_embed_dim), requires_grad=False)
        eps = norm_layer(1).eps
        self.predictor_blocks = nn.ModuleList(Block(predictor_embed_dim, num_heads, mlp_ratio, qkv_bias, eps)
                                              for _ in range(depth))
        self.predictor_norm = norm_layer(predictor_embed_dim)
        self.predictor_proj = nn.Linear(predictor_embed_dim, embed_dim)

    def forward(self, ctxt, tgt, masks_ctxt, masks_tgt, mask_index=1):
        batch, n_context = ctxt.shape[:2]
        pos = self.predictor_pos_embed.repeat(batch, 1, 1)
        x = self.predictor_embed(ctxt) + apply_masks(pos, [masks_ctxt])
        queries = self.mask_tokens[mask_index % len(self.mask_tokens)] + apply_masks(pos, [masks_tgt])
        x = torch.cat([x, queries], dim=1)
        for block in self.predictor_blocks:
            x = block(x)
        return self.predictor_proj(self.predictor_norm(x)[:, n_context:])
