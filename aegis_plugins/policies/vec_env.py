"""Vectorised envs for the RL loop: N copies of a registered env (in-process or one subprocess each), seeded,
with SB3's Monitor (episode return/length) and optional frame stacking (Mnih et al., 2015).

For exact resume, :func:`get_vec_env_state` / :func:`set_vec_env_state` capture and restore everything the next
rollout reads from the envs (each env's episode in progress and generator, Monitor's running episode, the frame
stack), through SB3's public VecEnv API (``env_method``), so in-process and subprocess envs work alike. An env
takes part when its class follows :class:`ResumableEnv`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import gymnasium as gym
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecFrameStack

from aegis.errors import ConfigError

__all__ = ["EnvFactory", "ResumableEnv", "StateMonitor", "build_vec_env", "get_vec_env_state", "set_vec_env_state"]


@runtime_checkable
class ResumableEnv(Protocol):
    """The optional part of the ENVS contract that makes an RL run resume exactly.

    ``get_state()`` returns the episode in progress and the env's own random generator as plain data (numpy arrays,
    numbers, strings, lists, dicts; ``env.np_random.bit_generator.state`` is a dict of ints); ``set_state(state)``
    on a fresh env built from the same config continues that episode exactly as the saved env would have. The
    methods must be defined by the object ENVS builds itself: when that object is a wrapper (``GymnasiumEnv``), a
    ``get_state`` of the env inside it is not used, because the wrappers' own state (e.g. TimeLimit's step
    count) would be missed. Envs without them resume with fresh episodes ("continued, not replayed").
    """

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


class StateMonitor(Monitor):
    """SB3's Monitor that can also hand out and take back its running episode and its env's state.

    ``aegis_get_state()`` is ``{"monitor": {rewards, needs_reset, total_steps}, "env": env.get_state() or None}``;
    ``None`` for the env part when the built env is not a :class:`ResumableEnv`. Called through
    ``VecEnv.env_method``, so it works in subprocess envs too.
    """

    def aegis_get_state(self) -> dict[str, Any]:
        env_state = self.env.get_state() if isinstance(self.env, ResumableEnv) else None
        return dict(monitor=dict(rewards=[float(r) for r in self.rewards], needs_reset=bool(self.needs_reset),
                                 total_steps=int(self.total_steps)), env=env_state)

    def aegis_set_state(self, state: Mapping[str, Any]) -> None:
        monitor = state["monitor"]
        self.rewards = [float(r) for r in monitor["rewards"]]
        self.needs_reset, self.total_steps = bool(monitor["needs_reset"]), int(monitor["total_steps"])
        if state["env"] is not None:
            self.env.set_state(state["env"])


class EnvFactory:
    """A picklable ``() -> gymnasium.Env`` that builds ``cfg`` from ENVS (loading the plugins first, so it also
    works in a fresh subprocess) and wraps it in SB3's Monitor (a :class:`StateMonitor`)."""

    def __init__(self, cfg: Mapping, path: str = "env", monitor: bool = True, render_mode: str | None = None) -> None:
        self.cfg, self.path, self.monitor, self.render_mode = dict(cfg), path, monitor, render_mode

    def __call__(self) -> gym.Env:
        import torch

        from aegis import plugins
        from aegis.build import build_component
        from aegis.contracts import Environment

        torch.set_num_threads(1)
        plugins.load()
        extra = {} if self.render_mode is None else dict(render_mode=self.render_mode)  # only to envs that take it
        env = build_component(self.cfg, Environment, path=self.path, **extra)
        return StateMonitor(env) if self.monitor else env


def build_vec_env(cfg: Mapping, n_envs: int, seed: int | None, vec_env: Literal["dummy", "subproc"] = "dummy",
                  frame_stack: int = 1, start_method: str | None = None) -> VecEnv:
    """``n_envs`` copies of the env ``cfg`` (env i seeded with seed + i), frames stacked ``frame_stack`` deep.

    ``start_method`` is the multiprocessing start method of subprocess envs: ``fork`` where the OS has it (fast: the
    children inherit the loaded plugins), else SB3's default.
    """
    if vec_env not in ("dummy", "subproc"):
        raise ConfigError(f"train_cfg.vec_env={vec_env!r}: expected 'dummy' (in-process) or 'subproc' "
                          "(one process per env).")
    if n_envs < 1:
        raise ConfigError(f"train_cfg.n_envs={n_envs}: expected at least 1.")
    factories = [EnvFactory(cfg) for _ in range(n_envs)]
    if vec_env == "subproc":
        import multiprocessing
        if start_method is None and "fork" in multiprocessing.get_all_start_methods():
            start_method = "fork"  # children inherit the loaded plugins; forkserver would re-import torch per env
        try:
            envs: VecEnv = SubprocVecEnv(factories, start_method=start_method)
        except (EOFError, ConnectionError, BrokenPipeError) as exc:  # a child died while building its env
            factories[0]().close()  # build one here to raise the child's real error (e.g. a missing dependency)
            raise RuntimeError(f"train_cfg.vec_env='subproc': an env process died while building {dict(cfg)} "
                               "but the env builds in this process; see the child's traceback above.") from exc
    else:
        envs = DummyVecEnv(factories)
    if seed is not None:
        envs.seed(seed)
    if frame_stack > 1:
        envs = VecFrameStack(envs, n_stack=frame_stack)
    return envs


def get_vec_env_state(envs: VecEnv) -> dict[str, Any] | None:
    """What the next rollout reads from ``envs`` (per env: its state and Monitor's episode; the frame stack), or
    None when an env is not a :class:`ResumableEnv` (or was built without Monitor)."""
    if not envs.has_attr("aegis_get_state"):
        return None
    states = envs.env_method("aegis_get_state")
    if any(s["env"] is None for s in states):
        return None
    state: dict[str, Any] = dict(envs=states, stacked_obs=None)
    if isinstance(envs, VecFrameStack):
        stacked = envs.stacked_obs
        if isinstance(stacked.observation_space, gym.spaces.Dict):
            state["stacked_obs"] = {k: v.stacked_obs.copy() for k, v in stacked.sub_stacked_observations.items()}
        else:
            state["stacked_obs"] = stacked.stacked_obs.copy()
    return state


def set_vec_env_state(envs: VecEnv, state: Mapping[str, Any]) -> None:
    """Put back :func:`get_vec_env_state` output (numpy arrays where it had them) into envs built the same way."""
    states = state["envs"]
    if len(states) != envs.num_envs:
        raise ValueError(f"{len(states)} saved env states for {envs.num_envs} envs.")
    for i, env_state in enumerate(states):
        envs.env_method("aegis_set_state", env_state, indices=[i])
    if isinstance(envs, VecFrameStack):
        stacked, saved = envs.stacked_obs, state["stacked_obs"]
        if isinstance(saved, Mapping):
            for key, value in saved.items():
                stacked.sub_stacked_observations[key].stacked_obs[...] = value
        else:
            stacked.stacked_obs[...] = saved
