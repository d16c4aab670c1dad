# Control for rl_disaster_vjepa_ppo: the same frozen ViT, per-token head, PPO settings and steps, but the encoder
# randomly initialised instead of loaded from phase 1. Does pretraining help the agent? (docs/rl.md, "Frozen V-JEPA
# features": on `easy`, no.) Evaluated against the same random, heuristic and pixel-CNN references.
_base_ = ["../rl_disaster_vjepa_ppo.py"]

policy = dict(features_extractor=dict(checkpoint=None, checkpoint_key=None))
# no phase-1 run needed: only the pixel-CNN control
upstream = dict(_delete_=True, pixel_cnn=dict(experiment="experiments/rl_disaster_ppo.py",
                                              overrides={"train_cfg.total_timesteps": 60_000}))
