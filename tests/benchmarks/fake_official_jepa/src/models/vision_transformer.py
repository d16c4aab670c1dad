"""Test double of facebookresearch/jepa src/models/vision_transformer.py: the video ViT's interface and names.

``OUTPUT_SHIFT`` (0 by default) scales a ramp over the channels added to every output (a change layer norm does not
undo), so a test can make this double compute something else.
"""
import torch
from torch import nn

from aegis_plugins.encoders.vit_blocks import Block
from src.masks.utils import apply_masks

OUTPUT_SHIFT = 0.0
FORWARD_CALLS = 0


class PatchEmbed3D(nn.Module):
    def __init__(self, patch_size=16, tubelet_size=2, in_chans=3, embed_dim=768):
        super().__init__()
        self.proj = nn.Conv3d(in_chans, embed_dim, (tubelet_size, patch_size, patch_size),
                              stride=(tubelet_size, patch_size, patch_size))

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, img_size=224, patch_size=16, num_frames=1, tubelet_size=2, in_chans=3, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, qkv_bias=True, norm_layer=nn.LayerNorm, uniform_power=False, **kwargs):
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        num_patches = (num_frames // tubelet_size) * (img_size // patch_size) ** 2
        self.patch_embed = PatchEmbed3D(patch_size, tubelet_size, in_chans, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, embed_dim), requires_grad=False)
        eps = norm_layer(1).eps
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias, eps) for _ in range(depth))
        self.norm = norm_layer(embed_dim)

    def forward(self, x, masks=None):
        global FORWARD_CALLS
        FORWARD_CALLS += 1
        x = self.patch_embed(x) + self.pos_embed
        if masks is not None:
            x = apply_masks(x, masks if isinstance(masks, list) else [masks])
        for block in self.blocks:
            x = block(x)
        return self.norm(x) + OUTPUT_SHIFT * torch.linspace(-1.0, 1.0, x.shape[-1])
