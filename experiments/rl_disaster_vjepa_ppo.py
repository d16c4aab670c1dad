# PPO on the `easy` DisasterRescue preset with the frozen phase-1 V-JEPA encoder as the features extractor:
# rl_disaster_ppo with one component swapped. The encoder is an `upstream` run (aegis/upstream.py): phase 1,
# experiments/vjepa_pretrain_tiny.py; `--with-upstream` builds it first when it is missing. Its newest checkpoint (named
# by its last_checkpoint file) is loaded here; its target encoder stays frozen (eval mode, no gradients, no
# re-initialisation) and RL checkpoints reference it by path and SHA-256.
_base_ = ["rl_disaster_ppo.py", "_base_/models/vjepa_tiny_encoder.py"]

upstream = dict(
    encoder=dict(experiment="experiments/vjepa_pretrain_tiny.py", overrides=dict()),  # phase 1
    # the control: the pixel-CNN agent of rl_disaster_ppo.py trained for the same number of env steps as this one
    pixel_cnn=dict(experiment="experiments/rl_disaster_ppo.py", overrides={"train_cfg.total_timesteps": 60_000}),
)

policy = dict(
    # The tiny V-JEPA ViT phase 1 trains (pretrained on 8 frames at 32 px; other clip sizes get interpolated position
    # embeddings). _delete_: a different encoder, so none of the CNN's arguments carry over.
    features_extractor=dict(_base_.vjepa_tiny_encoder, _delete_=True, checkpoint="${upstream.encoder.work_dir}",
                            checkpoint_key="target_encoder", frozen=True),
    frame_mean=(0.485, 0.456, 0.406),  # NormalizeVideo's ImageNet statistics, as in pretraining
    frame_std=(0.229, 0.224, 0.225),
    encoder_tokens="flatten",  # keep the 4x4 token layout (where agent and victims are) ...
    token_dim=16,  # ... each token mapped to 16 features by one trainable Linear + ReLU shared by all tokens ...
    features_dim=256,  # ... then the 16 x 16 features through a trainable Linear + ReLU (docs/rl.md)
)

# frame_stack=2: SB3's VecFrameStack hands the encoder a 2-frame clip, one tubelet of the tiny ViT
# The final evaluation plays the trained agent, a random policy, the map-knowing ScriptedRescuePolicy and the
# pixel-CNN agent on the same 200 seeded episodes.
train_cfg = dict(total_timesteps=60_000, checkpoint_interval=20_000, frame_stack=2,
                 eval_baselines=("random", "heuristic"),
                 eval_references=dict(pixel_cnn="${upstream.pixel_cnn.work_dir}"))
