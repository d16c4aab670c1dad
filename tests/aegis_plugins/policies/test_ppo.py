"""PPOAgent: SB3 PPO from config; a frozen encoder survives ortho init and training and is referenced, not copied."""
import numpy as np
import pytest
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor

from aegis.engine import atomic_save
from aegis.errors import CheckpointError, ConfigError
from aegis_plugins.encoders.vjepa import VJEPAEncoder
from aegis.engine.checkpoint import file_sha256
from aegis_plugins.policies.extractors import EncoderFeaturesExtractor
from aegis_plugins.policies.agent_io import build_agent
from aegis_plugins.policies.vec_env import build_vec_env

VIT = dict(arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2, num_frames=2, img_size=16)


@pytest.fixture
def frozen_vjepa(tmp_path):
    """A tiny V-JEPA encoder saved as a plain state dict, and the config that loads it frozen."""
    torch.manual_seed(1)
    path = tmp_path / "encoder.pth"
    atomic_save(VJEPAEncoder(**VIT).state_dict(), path)
    return str(path), dict(type="VJEPAEncoder", **VIT, output="pooled", checkpoint=str(path), checkpoint_key=None,
                           frozen=True)


def _envs(tiny_env, n_envs=2, seed=0, frame_stack=1, **kw):
    return build_vec_env(dict(tiny_env, **kw), n_envs=n_envs, seed=seed, frame_stack=frame_stack)


def _train_once(agent):
    """One rollout and one PPO update through SB3's learn(); SB3's train/* values of that update."""
    agent.learn(agent.rollout_steps)
    return agent.train_values()


def _assert_encoder_matches_file(encoder, path):
    saved = torch.load(path, weights_only=True)
    current = encoder.state_dict()
    assert saved.keys() == current.keys()
    for key, value in saved.items():
        assert torch.equal(current[key], value), key


def test_frozen_encoder_weights_survive_building_and_training(tiny_env, tiny_policy, frozen_vjepa):
    path, encoder_cfg = frozen_vjepa
    policy = build_agent(dict(tiny_policy, features_extractor=encoder_cfg, ortho_init=True),
                          _envs(tiny_env, frame_stack=2), seed=0)
    extractor = policy.module.features_extractor
    assert extractor.frozen
    _assert_encoder_matches_file(extractor.encoder, path)
    head_before = extractor.head[0].weight.detach().clone()
    losses = _train_once(policy)
    assert np.isfinite(losses["train/loss"])
    _assert_encoder_matches_file(extractor.encoder, path)
    assert not torch.equal(extractor.head[0].weight, head_before)  # the trainable head did learn
    assert not any(p.requires_grad for p in extractor.encoder.parameters())
    optimized = {id(p) for group in policy.module.optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in extractor.encoder.parameters()}


def test_plain_sb3_ortho_init_would_overwrite_the_frozen_encoder(tiny_env, frozen_vjepa):
    """The hazard the PPOAgent guards against: SB3's own policy re-initialises every Linear in the extractor."""
    path, encoder_cfg = frozen_vjepa
    envs = _envs(tiny_env, frame_stack=2)
    from stable_baselines3.common.vec_env import VecTransposeImage
    space = VecTransposeImage(envs).observation_space
    plain = ActorCriticPolicy(space, envs.action_space, lambda _: 3e-4, ortho_init=True,
                              features_extractor_class=EncoderFeaturesExtractor,
                              features_extractor_kwargs=dict(encoder=encoder_cfg))
    with pytest.raises(AssertionError):
        _assert_encoder_matches_file(plain.features_extractor.encoder, path)


def test_checkpoints_reference_a_frozen_encoder_by_path_and_hash(tiny_env, tiny_policy, frozen_vjepa, tmp_path):
    path, encoder_cfg = frozen_vjepa
    cfg = dict(tiny_policy, features_extractor=encoder_cfg)
    policy = build_agent(cfg, _envs(tiny_env, frame_stack=2), seed=0)
    _train_once(policy)
    state = policy.state_dict()
    assert state["frozen_encoder"]["checkpoint"] == path
    assert state["frozen_encoder"]["sha256"] == file_sha256(path)
    assert not [k for k in state["policy"] if ".encoder." in k]
    assert any(k.startswith("features_extractor.head.") for k in state["policy"])
    atomic_save(state, tmp_path / "agent.pth")
    loaded = torch.load(tmp_path / "agent.pth", weights_only=True)

    restored = build_agent(cfg, _envs(tiny_env, frame_stack=2), seed=5)
    restored.load_state_dict(loaded)
    obs = policy.algo.env.reset()
    dist_a = policy.module.get_distribution(policy.module.obs_to_tensor(obs)[0]).distribution.probs
    dist_b = restored.module.get_distribution(restored.module.obs_to_tensor(obs)[0]).distribution.probs
    torch.testing.assert_close(dist_a, dist_b)
    assert restored.num_timesteps == policy.num_timesteps == 16

    changed = VJEPAEncoder(**VIT)
    atomic_save(changed.state_dict(), path)  # the referenced encoder file changes after training
    stale = build_agent(cfg, _envs(tiny_env, frame_stack=2), seed=0)
    with pytest.raises(CheckpointError, match="sha256.*encoder file changed"):
        stale.load_state_dict(loaded, path="agent.pth")


def test_a_trainable_encoder_learns_and_is_saved(tiny_env, tiny_policy):
    policy = build_agent(tiny_policy, _envs(tiny_env), seed=0)
    encoder = policy.module.features_extractor.encoder
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    _train_once(policy)
    assert not policy.module.features_extractor.frozen
    assert any(not torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    state = policy.state_dict()
    assert state["frozen_encoder"] is None
    assert "features_extractor.encoder.convs.0.weight" in state["policy"]


def test_same_seed_same_rollout_and_update(tiny_env, tiny_policy):
    results = []
    for _ in range(2):
        policy = build_agent(tiny_policy, _envs(tiny_env, seed=3), seed=3)
        losses = _train_once(policy)
        results.append((policy.algo.rollout_buffer.actions.copy(), losses["train/loss"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_ppo_hyperparameters_reach_sb3(tiny_env, tiny_policy):
    cfg = dict(tiny_policy, learning_rate=1e-3, gamma=0.9, gae_lambda=0.8, ent_coef=0.05, n_epochs=2, clip_range=0.1,
               activation="relu", net_arch=(16, 8))
    policy = build_agent(cfg, _envs(tiny_env), seed=0)
    algo = policy.algo
    assert (algo.gamma, algo.gae_lambda, algo.ent_coef, algo.n_epochs, algo.n_steps) == (0.9, 0.8, 0.05, 2, 8)
    assert algo.clip_range(1.0) == 0.1 and algo.lr_schedule(1.0) == 1e-3
    assert [m.out_features for m in policy.module.mlp_extractor.policy_net if hasattr(m, "out_features")] == [16, 8]
    assert isinstance(policy.module.mlp_extractor.policy_net[1], torch.nn.ReLU)


def test_a_batch_size_that_does_not_divide_the_rollout_is_a_warning(tiny_env, tiny_policy):
    with pytest.warns(UserWarning, match=r"batch_size=12 does not divide.*8 \* 2 = 16.*minibatch of 4.*divisor is 8"):
        build_agent(dict(tiny_policy, batch_size=12), _envs(tiny_env), seed=0)


def test_unknown_choices_name_the_nearest(tiny_env, tiny_policy):
    from aegis_plugins.policies.ppo import PPOAgent

    with pytest.raises(ConfigError, match=r"activation='rleu'.*nearest: \['relu'"):
        PPOAgent(env=_envs(tiny_env), activation="rleu")


def test_without_an_extractor_sb3_picks_its_default(tiny_policy):
    envs = build_vec_env(dict(type="GymnasiumEnv", id="CartPole-v1", max_episode_steps=8), n_envs=2, seed=0)
    policy = build_agent(dict(tiny_policy, features_extractor=None), envs, seed=0)
    assert isinstance(policy.module.features_extractor, FlattenExtractor)
    assert np.isfinite(_train_once(policy)["train/loss"])


def test_dict_observations_feed_frames_to_the_encoder_and_the_rest_alongside(tiny_env, tiny_policy):
    envs = _envs(tiny_env, state_obs=True)  # {"image": (16, 16, 3) uint8, "state": (10,) float32}
    policy = build_agent(dict(tiny_policy, image_key="image"), envs, seed=0)
    extractor = policy.module.features_extractor
    assert extractor.features_dim == 32 + 10
    assert np.isfinite(_train_once(policy)["train/loss"])
    assert policy.predict(envs.reset())[0].shape == (2,)


def test_separate_actor_critic_sizes_and_continuous_actions(tiny_policy):
    envs = build_vec_env(dict(type="GymnasiumEnv", id="Pendulum-v1", max_episode_steps=8), n_envs=2, seed=0)
    cfg = dict(tiny_policy, features_extractor=None, net_arch=dict(pi=[16], vf=[8, 8]), log_std_init=-1.0)
    policy = build_agent(cfg, envs, seed=0)
    assert [m.out_features for m in policy.module.mlp_extractor.value_net if hasattr(m, "out_features")] == [8, 8]
    assert torch.allclose(policy.module.log_std, torch.full((1,), -1.0))
    assert policy.predict(envs.reset())[0].shape == (2, 1)
