# PPO with a small CNN on the `easy` DisasterRescue preset: learns in a few minutes on 2 CPU cores.
# The run ends by comparing the trained policy with a random one on the same 200 seeded episodes (log + metrics.json).
_base_ = ["_base_/rl/ppo_runtime.py", "_base_/rl/disaster_easy.py"]

policy = dict(
    type="PPOAgent",
    # 64x64 frames are box-filtered to 32x32 (the 7x7 grid stays readable), then a 2-layer CNN -> 256-d features.
    features_extractor=dict(type="SmallCNNEncoder", embed_dim=256, channels=(32, 64), kernel_sizes=(4, 3),
                            strides=(2, 2)),
    frame_resize=32,
    features_dim=None,  # the CNN's own head feeds the MLP
    net_arch=(64, 64),
    activation="tanh",
    learning_rate=1e-3,
    n_steps=64,
    batch_size=256,
    n_epochs=4,
    gamma=0.95,
    gae_lambda=0.9,
    clip_range=0.2,
    ent_coef=0.01,
    vf_coef=0.5,
    max_grad_norm=0.5,
)

train_cfg = dict(type="RLTrainLoop", total_timesteps=40_000, n_envs=8, vec_env="dummy",
                 checkpoint_interval=10_000, eval_episodes=200, eval_seed=100_000)
