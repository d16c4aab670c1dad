# The tiny V-JEPA ViT of the CPU path, defined once: 8 frames at 32 px, tubelet 2, patch 8 (a 4x4x4 token grid),
# width 128, 4 layers, 4 heads. Phase 1 trains it (_base_/models/vjepa_tiny.py); the later phases load its EMA target
# weights frozen, so they must build the same sizes. Use it as it is, or with arguments added:
#   encoder={{_base_.vjepa_tiny_encoder}}
#   encoder=dict(_base_.vjepa_tiny_encoder, checkpoint_key="target_encoder", frozen=True)
vjepa_tiny_encoder = dict(type="VJEPAEncoder", arch=None, embed_dim=128, depth=4, num_heads=4, patch_size=8,
                          tubelet_size=2, num_frames=8, img_size=32)
