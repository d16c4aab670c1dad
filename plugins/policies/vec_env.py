"""Vectorised envs for the RL loop: N copies of a registered env (in-process or one subprocess each), seeded,
with SB3's Monitor (episode return/length) and optional frame stacking (Mnih et al., 2015)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import gymnasium as gym
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecFrameStack

from aegis.errors import ConfigError

__all__ = ["EnvFactory", "build_vec_env"]


class EnvFactory:
    """A picklable ``() -> gymnasium.Env`` that builds ``cfg`` from ENVS (loading the plugins first, so it also
    works in a fresh subprocess) and wraps it in SB3's Monitor."""

    def __init__(self, cfg: Mapping, path: str = "env", monitor: bool = True, render_mode: str | None = None) -> None:
        self.cfg, self.path, self.monitor, self.render_mode = dict(cfg), path, monitor, render_mode

    def __call__(self) -> gym.Env:
        import torch

        from aegis import plugins
        from aegis.build import build_component, constructor_parameters
        from aegis.registry import ENVS

        torch.set_num_threads(1)
        plugins.load()
        cfg = dict(self.cfg)
        if self.render_mode is not None:
            cls = ENVS.get(cfg["type"]) if isinstance(cfg["type"], str) else cfg["type"]
            if cls is not None and "render_mode" in constructor_parameters(cls)[0]:
                cfg.setdefault("render_mode", self.render_mode)
        env = build_component(cfg, ENVS, path=self.path)
        return Monitor(env) if self.monitor else env


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
