"""Tiny env, encoder, policy and RL-run configs shared by the policy-family tests (8-step episodes, 16x16 frames)."""
import uuid

import pytest

TINY_ENV = dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16)
TINY_ENCODER = dict(type="SmallCNNEncoder", embed_dim=32, channels=(8, 16), kernel_sizes=(4, 3), strides=(2, 1))
TINY_POLICY = dict(type="PPOAgent", features_extractor=TINY_ENCODER, features_dim=32, net_arch=(32,), n_steps=8,
                   batch_size=16, n_epochs=1)


@pytest.fixture
def tiny_env():
    return dict(TINY_ENV)


@pytest.fixture
def tiny_encoder():
    return dict(TINY_ENCODER)


@pytest.fixture
def tiny_policy():
    return dict(TINY_POLICY)


@pytest.fixture
def tiny_rl_cfg(tmp_path):
    """A factory of RLRunner configs: tiny env and policy, 2 envs, 8 steps per env per rollout, no evaluation."""

    def make(work_dir=None, tensorboard: bool = False, **train_cfg):
        loop = dict(type="RLTrainLoop", total_timesteps=32, n_envs=2, checkpoint_interval=16, eval_episodes=0,
                    dry_run_steps=4)
        loop.update(train_cfg)
        backends = [dict(type="LocalVisBackend")] + ([dict(type="TensorboardVisBackend")] if tensorboard else [])
        return dict(runner_type="RLRunner", work_dir=str(work_dir or tmp_path / "run"), env=dict(TINY_ENV),
                    policy=dict(TINY_POLICY), train_cfg=loop, default_scope="aegis", randomness=dict(seed=0),
                    visualizer=dict(type="Visualizer", vis_backends=backends),
                    default_hooks=dict(runtime_info=dict(type="RuntimeInfoHook"), logger=dict(type="LoggerHook")),
                    log_processor=dict(by_epoch=False), log_level="WARNING",
                    experiment_name=f"tiny_rl_{uuid.uuid4().hex[:8]}")  # runners made in one second stay apart

    return make
