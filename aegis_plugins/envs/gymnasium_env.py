"""GymnasiumEnv: any environment registered with Gymnasium (Towers et al., "Gymnasium: A Standard Interface for
Reinforcement Learning Environments", arXiv:2407.17032, 2024) used as an AEGIS env plugin, so suites such as
MiniGrid plug in by config alone.
"""
from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

from aegis.errors import ConfigError, MissingDependencyError, closest

__all__ = ["GymnasiumEnv"]


class GymnasiumEnv(gym.Wrapper):
    """The Gymnasium environment `id` built with `gymnasium.make(id, **kwargs)`, unchanged (spaces, reward, info).

    `id` may carry a module prefix (`"minigrid:MiniGrid-Empty-5x5-v0"`), which Gymnasium imports to register the
    id. `max_episode_steps` overrides the registered time limit when given.
    """

    def __init__(self, id: str, kwargs: dict[str, Any] | None = None, max_episode_steps: int | None = None,
                 render_mode: str | None = None) -> None:
        if ":" in id:
            module = id.split(":", 1)[0]
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                raise MissingDependencyError(
                    f"GymnasiumEnv: id={id!r} needs the module {module!r}, which is not installed ({exc}). "
                    f"Install the package that provides it (e.g. `pip install {module.split('.')[0]}`).") from None
        name = id.split(":", 1)[-1]
        if name not in gym.registry:
            near = closest(name, gym.registry.keys())
            hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise ConfigError(f"GymnasiumEnv: id={id!r} is not a registered Gymnasium environment.{hint} "
                              "Ids from another package need its module prefix ('package:Env-v0') or an import; "
                              "`python -c 'import gymnasium; gymnasium.pprint_registry()'` lists the known ids.")
        make_kwargs: dict[str, Any] = dict(kwargs or {})
        if max_episode_steps is not None:
            make_kwargs["max_episode_steps"] = max_episode_steps
        if render_mode is not None:
            make_kwargs["render_mode"] = render_mode
        super().__init__(gym.make(id, **make_kwargs))
        self.env_id = id

    @property
    def spec(self):
        """The wrapped env's spec: this wrapper changes nothing, so `gymnasium.make(spec)` recreates the same env."""
        return self.env.spec
