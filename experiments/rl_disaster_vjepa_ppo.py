# PPO on the `easy` DisasterRescue preset with the frozen phase-1 V-JEPA encoder as the features extractor:
# rl_disaster_ppo with one component swapped. Run phase 1 first: `python tools/run.py experiments/vjepa_pretrain_tiny.py`
# writes work_dirs/vjepa_pretrain_tiny, whose newest checkpoint (named by its last_checkpoint file) is loaded here; its
# target encoder stays frozen (eval mode, no gradients, no re-initialisation) and RL checkpoints reference it by path
# and SHA-256.
_base_ = ["rl_disaster_ppo.py"]

policy = dict(
    # The architecture of experiments/_base_/models/vjepa_tiny.py (pretrained on 8 frames at 32 px; other clip sizes
    # get interpolated position embeddings). _delete_: a different encoder, so none of the CNN's arguments carry over.
    features_extractor=dict(_delete_=True, type="VJEPAEncoder", arch=None, embed_dim=128, depth=4, num_heads=4,
                            patch_size=8, tubelet_size=2, num_frames=8, img_size=32,
                            checkpoint="work_dirs/vjepa_pretrain_tiny", checkpoint_key="target_encoder",
                            frozen=True),
    frame_mean=(0.485, 0.456, 0.406),  # NormalizeVideo's ImageNet statistics, as in pretraining
    frame_std=(0.229, 0.224, 0.225),
    encoder_tokens="flatten",  # keep the 4x4 token layout (where agent and victims are): 16 x 128 features
    features_dim=256,  # a trainable linear + ReLU on the frozen token features
)

# frame_stack=2: SB3's VecFrameStack hands the encoder a 2-frame clip, one tubelet of the tiny ViT
train_cfg = dict(total_timesteps=60_000, checkpoint_interval=20_000, frame_stack=2)
