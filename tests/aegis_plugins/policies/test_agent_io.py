"""agent_io: an AEGIS RL checkpoint back as an agent, or as a plain stable_baselines3.PPO; the renamed PPOPolicy."""
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecFrameStack

from aegis.errors import AegisError, CheckpointError, ConfigError
from aegis_plugins.policies import load_sb3_agent
from aegis_plugins.policies.agent_io import build_agent, read_checkpoint
from aegis_plugins.policies.rl_runner import RLRunner
from aegis_plugins.policies.vec_env import build_vec_env

# conftest.py's tiny env and policy (8-step episodes, 16x16 frames), for the module-scoped run below
TINY_ENV = dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16)
TINY_POLICY = dict(type="PPOAgent", features_extractor=dict(type="SmallCNNEncoder", embed_dim=32, channels=(8, 16),
                                                            kernel_sizes=(4, 3), strides=(2, 1)),
                   features_dim=32, net_arch=(32,), n_steps=8, batch_size=16, n_epochs=1)


@pytest.fixture(scope="module")
def stacked_run(tmp_path_factory):
    """A 32-step run of the tiny policy on frames stacked 2 deep by train_cfg.frame_stack; (runner, checkpoint)."""
    work_dir = tmp_path_factory.mktemp("stacked")
    runner = RLRunner(env=dict(TINY_ENV), policy=dict(TINY_POLICY), work_dir=str(work_dir),
                      train_cfg=dict(type="RLTrainLoop", total_timesteps=32, n_envs=2, frame_stack=2,
                                     checkpoint_interval=16, eval_episodes=0),
                      randomness=dict(seed=0), log_level="WARNING", experiment_name="agent_io_stacked")
    runner.train()
    return runner, str(work_dir / "step_32.pth")


def test_load_sb3_agent_gives_a_plain_ppo_acting_like_the_trained_agent(stacked_run):
    runner, checkpoint = stacked_run
    agent = load_sb3_agent(checkpoint)
    assert type(agent) is PPO
    assert agent.get_env().observation_space.shape == (6, 16, 16)  # VecFrameStack's (16, 16, 2*3), transposed
    trained = runner.train_loop.agent
    obs = build_vec_env(runner.rl_env_cfg, 2, seed=7, frame_stack=2).reset()
    np.testing.assert_array_equal(agent.predict(obs, deterministic=True)[0],
                                  trained.predict(obs, deterministic=True)[0])
    probs = [a.policy.get_distribution(a.policy.obs_to_tensor(obs)[0]).distribution.probs
             for a in (agent, trained.algo)]
    torch.testing.assert_close(probs[0], probs[1], rtol=0, atol=0)
    returns, lengths = evaluate_policy(agent, agent.get_env(), n_eval_episodes=2, return_episode_rewards=True)
    assert len(returns) == 2 and all(1 <= n <= 8 for n in lengths)


def test_load_sb3_agent_on_your_own_env_wants_the_frames_stacked(stacked_run):
    runner, checkpoint = stacked_run
    own = build_vec_env(runner.rl_env_cfg, 3, seed=1)
    agent = load_sb3_agent(checkpoint, env=VecFrameStack(own, n_stack=2))
    assert agent.predict(agent.get_env().reset())[0].shape == (3,)
    with pytest.raises(CheckpointError, match=r"stacked 2 deep \(wrap the env in VecFrameStack\(env, n_stack=2\)\)"):
        load_sb3_agent(checkpoint, env=build_vec_env(runner.rl_env_cfg, 1, seed=1))


def test_a_checkpoint_of_an_env_that_stacked_frames_itself_reads_as_frame_stack(stacked_run, tmp_path):
    _, checkpoint = stacked_run
    saved = torch.load(checkpoint, weights_only=True)
    saved["build"].update(env=dict(saved["build"]["env"], frame_stack=2), frame_stack=1)
    torch.save(saved, tmp_path / "old.pth")
    read = read_checkpoint(str(tmp_path / "old.pth"))
    assert read["build"]["frame_stack"] == 2 and "frame_stack" not in read["build"]["env"]
    assert read["env_stacked_frames"] is True


def test_env_frame_stack_is_refused_naming_train_cfg(tiny_rl_cfg):
    cfg = tiny_rl_cfg()
    cfg["env"] = dict(cfg["env"], frame_stack=2)
    with pytest.raises(ConfigError, match=r"env.frame_stack=2.*set train_cfg.frame_stack=2 instead"):
        RLRunner.from_cfg(cfg).train_loop


def test_the_old_name_ppo_policy_names_ppo_agent(tiny_policy, tiny_env):
    envs = build_vec_env(tiny_env, 2, seed=0)
    assert type(build_agent(tiny_policy, envs, seed=0)).__name__ == "PPOAgent"
    with pytest.raises(AegisError, match="'PPOPolicy' was renamed.*'PPOAgent'"):
        build_agent(dict(tiny_policy, type="PPOPolicy"), envs, seed=0)
