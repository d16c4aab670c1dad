# PPO with a small CNN on the `easy` DisasterRescue preset: learns in a few minutes on 2 CPU cores.
# The run ends by comparing the trained policy with a random one on the same 200 seeded episodes (log + metrics.json).
_base_ = ["_base_/rl/ppo_runtime.py", "_base_/rl/disaster_easy.py"]

policy = dict(
    type="PPOPolicy",
    features_extractor=dict(type="SmallCNNEncoder", embed_dim=128, channels=(16, 32, 32)),
    features_dim=None,  # the CNN's own 128-d head feeds the MLP
    net_arch=(64, 64),
    activation="tanh",
    learning_rate=5e-4,
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

train_cfg = dict(type="RLTrainLoop", total_timesteps=150_000, n_envs=8, vec_env="dummy",
                 checkpoint_interval=25_000, eval_episodes=200, eval_seed=100_000)
