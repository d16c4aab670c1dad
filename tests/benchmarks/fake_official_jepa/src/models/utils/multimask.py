"""Test double of facebookresearch/jepa src/models/utils/multimask.py: one backbone call per mask."""
from torch import nn


class MultiMaskWrapper(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, x, masks=None):
        if masks is None:
            return self.backbone(x)
        return [self.backbone(x, masks=m) for m in (masks if isinstance(masks, list) else [masks])]


class PredictorMultiMaskWrapper(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, ctxt, tgt, masks_ctxt, masks_tgt):
        return [self.backbone(z, h, mc, mt, mask_index=i)
                for i, (z, h, mc, mt) in enumerate(zip(ctxt, tgt, masks_ctxt, masks_tgt))]
