# PPO with a small CNN on the `medium` DisasterRescue preset (walls, two victims, wind-driven fire, a flood; 80-step
# episodes). Frames are stacked 2 deep so the agent sees which way fire and water move. The run ends with the trained
# agent, a random policy and the map-knowing ScriptedRescuePolicy (the upper reference) on the same 200 seeded
# episodes (log + metrics.json: eval/*, eval/random_*, eval/heuristic_*). docs/rl.md "Harder rescues" has the numbers.
_base_ = ["_base_/rl/ppo_runtime.py", "_base_/rl/disaster_medium.py"]

policy = dict(
    type="PPOAgent",
    # 40x40 frames, 4x4 pixels per cell: the first conv (kernel = stride = 4) embeds each cell of the 10x10 map,
    # the second mixes 3x3 neighbourhoods -> (64, 8, 8) -> 256-d features.
    features_extractor=dict(type="SmallCNNEncoder", embed_dim=256, channels=(32, 64), kernel_sizes=(4, 3),
                            strides=(4, 1)),
    features_dim=None,  # the CNN's own head feeds the MLP
    net_arch=(128, 128),
    activation="tanh",
    learning_rate=3e-4,
    n_steps=128,
    batch_size=256,
    n_epochs=4,
    gamma=0.99,  # 80-step episodes: a rescue 20-40 steps away must still pay
    gae_lambda=0.95,
    clip_range=0.2,
    ent_coef=0.03,  # with 0.01 the agent settled into bumping walls (docs/rl.md, "Harder rescues")
    vf_coef=0.5,
    max_grad_norm=0.5,
)

train_cfg = dict(type="RLTrainLoop", total_timesteps=300_000, n_envs=8, vec_env="dummy", frame_stack=2,
                 checkpoint_interval=50_000, eval_episodes=200, eval_seed=100_000,
                 eval_baselines=("random", "heuristic"))
