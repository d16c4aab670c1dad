"""GymnasiumEnv: any registered Gymnasium id as an AEGIS env."""
import numpy as np
import pytest

from aegis.build import build_component
from aegis.errors import ConfigError, MissingDependencyError
from aegis.registry import ENVS


def test_builds_a_gymnasium_id_with_kwargs_and_time_limit():
    env = build_component(dict(type="GymnasiumEnv", id="Pendulum-v1", kwargs=dict(g=2.0), max_episode_steps=3),
                          ENVS, "env")
    assert env.unwrapped.g == 2.0 and env.observation_space.shape == (3,)
    env.reset(seed=0)
    done = [env.step(np.zeros(1, dtype=np.float32))[3] for _ in range(3)]
    assert done == [False, False, True]  # truncated by the 3-step limit


def test_same_seed_same_episode():
    a = build_component(dict(type="GymnasiumEnv", id="CartPole-v1"), ENVS, "env")
    b = build_component(dict(type="GymnasiumEnv", id="CartPole-v1"), ENVS, "env")
    assert np.array_equal(a.reset(seed=4)[0], b.reset(seed=4)[0])


def test_wraps_our_own_registered_id():
    env = build_component(dict(type="GymnasiumEnv", id="aegis/DisasterRescue-v0", kwargs=dict(preset="hard")),
                          ENVS, "env")
    assert env.unwrapped.config.action_mode == "habitat"


def test_unknown_id_suggests_the_nearest():
    with pytest.raises(ConfigError, match="Did you mean 'CartPole-v1'"):
        build_component(dict(type="GymnasiumEnv", id="CartPol-v1"), ENVS, "env")


def test_missing_module_prefix_is_a_missing_dependency():
    with pytest.raises(MissingDependencyError, match="no_such_suite"):
        build_component(dict(type="GymnasiumEnv", id="no_such_suite:Thing-v0"), ENVS, "env")


def test_passes_the_gymnasium_checker_and_keeps_the_spec():
    from gymnasium.utils.env_checker import check_env

    env = build_component(dict(type="GymnasiumEnv", id="CartPole-v1", max_episode_steps=8), ENVS, "env")
    check_env(env, skip_render_check=True)
    assert env.spec.id == "CartPole-v1" and env.spec.max_episode_steps == 8
