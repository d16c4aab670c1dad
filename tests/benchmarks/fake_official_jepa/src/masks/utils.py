"""Test double of facebookresearch/jepa src/masks/utils.py: keep the indexed tokens of each mask."""
import torch


def apply_masks(x, masks, concat=True):
    """(B, N, D) tokens and a list of (B, K) index tensors -> the kept tokens, per mask or stacked mask-major."""
    kept = [torch.gather(x, 1, m.unsqueeze(-1).expand(-1, -1, x.size(-1))) for m in masks]
    return torch.cat(kept, dim=0) if concat else kept
