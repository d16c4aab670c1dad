"""aegis_plugins/envs/moved_arguments.py: envs no longer stack frames; `frame_stack=` says where it went."""
from __future__ import annotations

import inspect

import gymnasium
import pytest

from aegis.errors import ConfigError
from aegis_plugins.envs.disaster import DisasterRescueEnv
from aegis_plugins.envs.habitat_nav import HabitatNavEnv


@pytest.mark.parametrize("env_class", [DisasterRescueEnv, HabitatNavEnv])
def test_frame_stack_on_an_env_names_the_rl_runner_and_vec_frame_stack(env_class):
    with pytest.raises(ConfigError, match=rf"{env_class.__name__}: frame_stack is no longer an env argument.*"
                                          r"VecFrameStack.*RL runner's frame_stack \(train_cfg.frame_stack\)"):
        env_class(frame_stack=2)
    assert "frame_stack" not in inspect.signature(env_class).parameters  # not part of the config schema


def test_frame_stack_through_gymnasium_make_is_the_same_error():
    with pytest.raises(ConfigError, match="RL runner's frame_stack"):
        gymnasium.make("aegis/DisasterRescue-v0", frame_stack=4)
