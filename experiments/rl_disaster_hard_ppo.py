# PPO with a small CNN on the `hard` DisasterRescue preset: a 14x14 map seen through an egocentric 7x7-cell window,
# Habitat actions (stop/move_forward/turn_left/turn_right), three victims, more fire and two floods, 200-step
# episodes and no distance shaping (the reward is the rescues, the losses and the step cost). Frames are stacked 4
# deep: the window shows little, so the last few views are the agent's only memory. The run ends with the trained
# agent, a random policy and the map-knowing ScriptedRescuePolicy on the same 200 seeded episodes. At CPU budgets
# this does not reach the scripted rescuer; docs/rl.md "Harder rescues" says how far it gets.
_base_ = ["_base_/rl/ppo_runtime.py", "_base_/rl/disaster_hard.py"]

policy = dict(
    type="PPOAgent",
    # 28x28 frames, 4x4 pixels per cell: the first conv (kernel = stride = 4) embeds each cell of the 7x7 window,
    # the second mixes 3x3 neighbourhoods -> (64, 5, 5) -> 256-d features.
    features_extractor=dict(type="SmallCNNEncoder", embed_dim=256, channels=(32, 64), kernel_sizes=(4, 3),
                            strides=(4, 1)),
    features_dim=None,
    net_arch=(128, 128),
    activation="tanh",
    learning_rate=3e-4,
    n_steps=256,
    batch_size=256,
    n_epochs=4,
    gamma=0.99,  # 200-step episodes and sparse rescues
    gae_lambda=0.95,
    clip_range=0.2,
    ent_coef=0.02,  # keep exploring: random play almost never rescues all three
    vf_coef=0.5,
    max_grad_norm=0.5,
)

train_cfg = dict(type="RLTrainLoop", total_timesteps=200_000, n_envs=8, vec_env="dummy", frame_stack=4,
                 checkpoint_interval=50_000, eval_episodes=200, eval_seed=100_000,
                 eval_baselines=("random", "heuristic"))
