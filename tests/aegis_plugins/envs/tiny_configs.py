"""Tiny configs of the env family for the contract test: 8-step episodes, small frames.

HabitatNavEnv runs against the habitat-sim TEST DOUBLE (tests/aegis_plugins/envs/habitat_sim_double.py), loaded here
as the module `habitat_sim_double` so that `sim_module` can name it.
"""
import importlib.util
import sys
from pathlib import Path

from gymnasium.utils.env_checker import check_env


def _load_double() -> str:
    if "habitat_sim_double" not in sys.modules:
        spec = importlib.util.spec_from_file_location("habitat_sim_double",
                                                      Path(__file__).with_name("habitat_sim_double.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["habitat_sim_double"] = module
        spec.loader.exec_module(module)
    return "habitat_sim_double"


def _check_and_reset(env):
    check_env(env, skip_render_check=True)
    return env.reset(seed=0)[0]


TINY = {
    "DisasterRescueEnv": dict(
        registry="ENVS",
        cfg=dict(type="DisasterRescueEnv", preset="medium", grid_size=6, num_victims=1, num_fires=1,
                 max_steps=8, obs_size=16),
        run=_check_and_reset,
        expect_shape=(16, 16, 3),
    ),
    "GymnasiumEnv": dict(
        registry="ENVS",
        cfg=dict(type="GymnasiumEnv", id="CartPole-v1", max_episode_steps=8),
        run=_check_and_reset,
        expect_shape=(4,),
    ),
    "HabitatNavEnv": dict(
        registry="ENVS",
        cfg=dict(type="HabitatNavEnv", scene="double://room", sim_module=_load_double(), resolution=(16, 16),
                 max_steps=8),
        run=_check_and_reset,
        expect_shape=(16, 16, 3),
    ),
}
