"""Tiny configs of every registered encoder, for tests/aegis_plugins/test_contract.py."""
import torch

TINY = {
    "VJEPAEncoder": dict(
        registry="ENCODERS",
        cfg=dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
                 num_frames=2, img_size=16),
        run=lambda enc: enc(torch.randn(2, 3, 2, 16, 16)),
        expect_shape=(2, 4, 32),
    ),
    "VJEPA2HFEncoder": dict(
        registry="ENCODERS",
        cfg=dict(type="VJEPA2HFEncoder", config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, patch_size=8, tubelet_size=2,
            frames_per_clip=2, crop_size=16, pred_hidden_size=32, pred_num_hidden_layers=1,
            pred_num_attention_heads=2, num_pooler_layers=1)),
        run=lambda enc: enc(torch.randn(2, 3, 2, 16, 16)),
        expect_shape=(2, 4, 32),
    ),
    "SmallCNNEncoder": dict(
        registry="ENCODERS",
        cfg=dict(type="SmallCNNEncoder", in_chans=3, num_frames=2, img_size=16, embed_dim=32, channels=(8, 16),
                 kernel_sizes=(4, 3), strides=(2, 1)),
        run=lambda enc: enc(torch.randn(2, 3, 2, 16, 16)),
        expect_shape=(2, 32),
    ),
}
