"""Tiny configs of the policies family for tests/aegis_plugins/test_contract.py: 8-step episodes of 16x16 frames."""
import tempfile

import numpy as np

from aegis_plugins.policies.vec_env import build_vec_env

# The same tiny env, encoder and policy as tests/aegis_plugins/policies/conftest.py (8-step episodes, 16x16 frames).
TINY_ENV = dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16)
TINY_ENCODER = dict(type="SmallCNNEncoder", embed_dim=32, channels=(8, 16), kernel_sizes=(4, 3), strides=(2, 1))
TINY_POLICY = dict(type="PPOAgent", features_extractor=TINY_ENCODER, features_dim=32, net_arch=(32,), n_steps=8,
                   batch_size=16, n_epochs=1)


def _tiny_rl_cfg() -> dict:
    """Keyword arguments of an RLRunner over the tiny env and policy: 2 envs, 8 steps per rollout, no evaluation."""
    loop = dict(type="RLTrainLoop", total_timesteps=32, n_envs=2, checkpoint_interval=16, eval_episodes=0,
                dry_run_steps=4)
    return dict(work_dir=tempfile.mkdtemp(prefix="aegis_tiny_rl_"), env=dict(TINY_ENV), policy=dict(TINY_POLICY),
                train_cfg=loop, randomness=dict(seed=0), log_level="WARNING")


def _policy_actions(policy):
    obs = policy.algo.env.reset()
    return policy.predict(obs, deterministic=True)[0]


def _runner_dry_run(runner):
    losses = runner.train_loop.dry_run()
    return np.array(sorted(losses.values()))


def _loop_dry_run(loop):
    return np.array(sorted(loop.dry_run().values()))


def _tiny_runner():
    from aegis_plugins.policies.rl_runner import RLRunner
    return RLRunner(**_tiny_rl_cfg())


TINY = {
    "PPOAgent": dict(
        registry="POLICIES",
        cfg=dict(TINY_POLICY, env=build_vec_env(TINY_ENV, n_envs=2, seed=0), seed=0),
        run=_policy_actions,
        expect_shape=(2,),
    ),
    "RLTrainLoop": dict(
        registry="LOOPS",
        cfg=dict(type="RLTrainLoop", runner=_tiny_runner(), env=TINY_ENV, policy=TINY_POLICY, n_envs=2,
                 eval_episodes=0, dry_run_steps=4),
        run=_loop_dry_run,
        expect_shape=None,
    ),
    "RLRunner": dict(
        registry="RUNNERS",
        cfg=dict(_tiny_rl_cfg(), type="RLRunner"),
        run=_runner_dry_run,
        expect_shape=None,
    ),
}
