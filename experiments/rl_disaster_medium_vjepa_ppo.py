# PPO on the `medium` DisasterRescue preset with the frozen phase-1 V-JEPA encoder as the features extractor:
# rl_disaster_medium_ppo (the pixel-CNN agent) with the encoder swapped, everything else (env, frame stack, PPO
# settings, steps, the evaluation episodes) the same. The encoder is the `upstream` phase-1 run, as in
# rl_disaster_vjepa_ppo.py. docs/rl.md "Frozen V-JEPA features" has the results next to the pixel CNN's.
_base_ = ["rl_disaster_medium_ppo.py", "_base_/models/vjepa_tiny_encoder.py"]

upstream = dict(
    encoder=dict(experiment="experiments/vjepa_pretrain_tiny.py", overrides=dict()),  # phase 1
    pixel_cnn=dict(experiment="experiments/rl_disaster_medium_ppo.py", overrides=dict()),  # the same steps, pixels
)

# 80x80 frames: 8x8 pixels per cell, so each of the ViT's 8-pixel patches is exactly one cell of the 10x10 map (a
# 10x10 token grid; interpolated position embeddings, pretrained on 4x4 grids of 32-pixel frames). At the pixel CNN's
# 40 px a token held 2x2 cells and the agent did not learn in 200k steps (docs/rl.md). Only what is observed
# differs from the pixel-CNN run: the same maps, episodes and evaluation seeds.
env = dict(obs_size=80)

policy = dict(
    # frame_stack=2 frames make one tubelet: the encoder sees the last two frames as one clip, as it was trained to.
    features_extractor=dict(_base_.vjepa_tiny_encoder, _delete_=True, checkpoint="${upstream.encoder.work_dir}",
                            checkpoint_key="target_encoder", frozen=True),
    frame_mean=(0.485, 0.456, 0.406),  # NormalizeVideo's ImageNet statistics, as in pretraining
    frame_std=(0.229, 0.224, 0.225),
    encoder_tokens="flatten",  # keep the 10x10 token layout ...
    token_dim=16,  # ... each token mapped to 16 features by one trainable Linear + ReLU shared by all tokens ...
    features_dim=256,  # ... then the 100 x 16 features through a trainable Linear + ReLU
)

# The final evaluation plays the trained agent, random, the scripted rescuer and the pixel-CNN agent on the same 200
# seeded episodes.
train_cfg = dict(eval_references=dict(pixel_cnn="${upstream.pixel_cnn.work_dir}"))
