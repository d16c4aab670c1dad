"""Tiny configs of the env family for the contract test: 8-step episodes, small frames."""
from gymnasium.utils.env_checker import check_env


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
}
