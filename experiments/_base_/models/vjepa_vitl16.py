# V-JEPA ViT-L/16 (Bardes et al., 2024; facebookresearch/jepa configs/pretrain/vitl16.yaml): 16 frames at 224 px,
# tubelet 2, patch 16 (an 8x14x14 token grid); predictor 384 wide and 6 deep (the official recipe uses 12);
# short-range (8 blocks) and long-range (2 blocks) multi-block masks, both at mask ratio 0.8 over the full clip;
# L1 latent reconstruction plus the temporal causality loss (weight 0.1).
mask_ratio = 0.8  # the guide's knobs, read through ${...}: `mask_ratio=0.9 causality_weight=0` on the command line
causality_weight = 0.1
model = dict(
    type="JEPAPretrainer",
    encoder=dict(type="VJEPAEncoder", arch="vit_large", patch_size=16, tubelet_size=2, num_frames=16, img_size=224,
                 uniform_power=True),
    predictor=dict(type="JEPAPredictor", embed_dim=384, depth=6, num_heads=16),  # heads as the encoder, like the official
    mask_generators=[
        dict(type="MultiBlock3DMaskGenerator", num_blocks=8, mask_ratio="${mask_ratio}", temporal_scale=(1.0, 1.0),
             aspect_ratio=(0.75, 1.5)),
        dict(type="MultiBlock3DMaskGenerator", num_blocks=2, mask_ratio="${mask_ratio}", temporal_scale=(1.0, 1.0),
             aspect_ratio=(0.75, 1.5)),
    ],
    losses=[
        dict(type="LatentReconstructionLoss", norm="l1", loss_weight=1.0),
        dict(type="TemporalCausalityLoss", loss_weight="${causality_weight}"),
    ],
)
