# PointNav in a Habitat scene with PPO: RGB (4 stacked 64x64 frames) through a small CNN, plus the GPS+compass
# point goal, as in habitat-baselines' ppo_pointnav (clip 0.2, 4 epochs, 2 minibatches, lr 2.5e-4).
# Needs habitat-sim (conda; see docs/habitat.md) and the scene file; `tools/run.py <this> --dry-run` says what is
# missing. On a machine without a GPU set env.gpu_device_id=-1.
_base_ = ["_base_/rl/ppo_runtime.py"]

env = dict(type="HabitatNavEnv", scene="data/scene_datasets/habitat-test-scenes/skokloster-castle.glb",
           resolution=(64, 64), observations=("rgb", "pointgoal"), max_steps=500,
           success_distance=0.2, success_reward=2.5, slack_reward=-0.01, gpu_device_id=0)

policy = dict(
    type="PPOAgent",
    features_extractor=dict(type="SmallCNNEncoder", embed_dim=512),  # Nature-DQN CNN on the 4-frame clip
    image_key="rgb",  # the point goal (distance, angle) is concatenated after the CNN features
    features_dim=None,
    net_arch=(512,),
    activation="relu",
    learning_rate=2.5e-4,
    n_steps=128,
    batch_size=256,  # 2 minibatches of 4 envs x 128 steps
    n_epochs=4,
    gamma=0.99,
    gae_lambda=0.95,
    clip_range=0.2,
    ent_coef=0.01,
    vf_coef=0.5,
    max_grad_norm=0.2,
)

# frame_stack=4: SB3's VecFrameStack stacks the last 4 RGB frames (the point goal is stacked alongside)
train_cfg = dict(type="RLTrainLoop", total_timesteps=2_000_000, n_envs=4, vec_env="subproc", frame_stack=4,
                 checkpoint_interval=100_000, eval_episodes=50, eval_seed=100_000)
