# A tiny V-JEPA pretrainer that trains on 2 CPU cores in minutes: the encoder of vjepa_tiny_encoder.py (8 frames
# at 32 px, patch 8, a 4x4x4 token grid, width 128, 4 layers); predictor 64 wide, 2 deep; short- and long-range
# multi-block masks at mask ratio 0.8; L1 latent reconstruction plus the temporal causality loss (weight 0.1).
# The training guide's knobs are top-level keys the components read through ${...}, so a sweep or an override sets
# them by name: `tools/run.py experiments/vjepa_pretrain_tiny.py mask_ratio=0.9 causality_weight=0`.
_base_ = ["vjepa_tiny_encoder.py"]

mask_ratio = 0.8
causality_weight = 0.1
model = dict(
    type="JEPAPretrainer",
    encoder={{_base_.vjepa_tiny_encoder}},
    predictor=dict(type="JEPAPredictor", embed_dim=64, depth=2, num_heads=4),
    mask_generators=[
        dict(type="MultiBlock3DMaskGenerator", num_blocks=8, mask_ratio="${mask_ratio}"),  # short range: small blocks
        dict(type="MultiBlock3DMaskGenerator", num_blocks=2, mask_ratio="${mask_ratio}"),  # long range: a few large
    ],
    losses=[
        dict(type="LatentReconstructionLoss", norm="l1", loss_weight=1.0),
        dict(type="TemporalCausalityLoss", loss_weight="${causality_weight}"),
    ],
)
