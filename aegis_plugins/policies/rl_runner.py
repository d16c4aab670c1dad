"""``RLRunner``: the AEGIS Runner for reinforcement learning (PPO, Schulman et al., 2017, through SB3).

mmengine's Runner wants a dataloader, a train loop config and an optimizer wrapper together; an RL run has none of
the first or last (the env feeds it, the policy owns its optimizer). This runner keeps everything else of
AegisRunner (work dir, logger, TensorBoard visualizer, message hub, seeds, hooks, metrics.json) and trains with
:class:`~aegis_plugins.policies.rl_loop.RLTrainLoop` built from ``train_cfg``.
"""
from __future__ import annotations

import copy
import os.path as osp

import torch

from aegis.annotations import Component
from aegis.contracts import Environment, Loop, RLAgent
from aegis.engine import AegisRunner
from aegis.errors import CheckpointError, ConfigError

__all__ = ["RLRunner"]

_SUPERVISED_KEYS = ("train_dataloader", "val_dataloader", "test_dataloader", "optim_wrapper", "param_scheduler",
                    "val_cfg", "test_cfg", "val_evaluator", "test_evaluator", "model")


class RLRunner(AegisRunner):
    """Train an RL agent: builds ``env`` (ENVS) copies, the ``policy`` (POLICIES) and the ``train_cfg`` loop (LOOPS).

    Experiment keys: ``runner_type = "RLRunner"``, ``env = dict(type=...)``, ``policy = dict(type=...)``,
    ``train_cfg = dict(type="RLTrainLoop", total_timesteps=..., ...)`` plus the usual runtime keys (work_dir,
    default_hooks, visualizer, randomness, resume, load_from). ``resume=True`` continues from the newest good
    checkpoint (or ``load_from``) with the step count preserved; ``load_from`` alone initialises the weights.
    Run-level hook points are called (before/after_run, before/after_train, before_save_checkpoint); an
    iteration is a rollout plus an update and is logged by the loop itself.
    """

    def __init__(self, env: Component[Environment], policy: Component[RLAgent], train_cfg: Component[Loop],
                 work_dir: str, default_hooks: dict | None = None,
                 custom_hooks: list | None = None, load_from: str | None = None, resume: bool = False,
                 launcher: str = "none", env_cfg: dict | None = None, log_processor: dict | None = None,
                 log_level: str = "INFO", visualizer: dict | None = None, default_scope: str = "aegis",
                 randomness: dict | None = None, experiment_name: str | None = None, cfg=None) -> None:
        if launcher != "none":
            raise ConfigError(f"launcher={launcher!r}: RLRunner trains in one process (parallelism comes from "
                              "train_cfg.n_envs and vec_env='subproc'); use launcher='none'.")
        for key, value in (("env", env), ("policy", policy), ("train_cfg", train_cfg)):
            if not isinstance(value, dict) or "type" not in value:
                raise ConfigError(f"{key}: RLRunner needs a component dict with a 'type' here, got {value!r}.")
        if "frame_stack" in env:  # the key moved: frame stacking is the RL side's (VecFrameStack), not the env's
            raise ConfigError(f"env.frame_stack={env['frame_stack']!r}: envs no longer stack frames themselves; "
                              f"set train_cfg.frame_stack={env['frame_stack']!r} instead (SB3's VecFrameStack: the "
                              "same frames, oldest first along the channels).")
        # mmengine's Runner needs a model when it is constructed, before the loop can build the envs and the agent
        # (they need the runner's seed and work dir); the loop replaces this placeholder by the agent's policy.
        super().__init__(model=torch.nn.Module(), work_dir=work_dir, default_hooks=default_hooks,
                         custom_hooks=custom_hooks, load_from=load_from, resume=resume, launcher=launcher,
                         env_cfg=env_cfg or dict(dist_cfg=dict(backend="gloo")), log_processor=log_processor,
                         log_level=log_level, visualizer=visualizer, default_scope=default_scope,
                         randomness=randomness or dict(seed=None), experiment_name=experiment_name, cfg=cfg)
        self.rl_env_cfg, self.rl_policy_cfg = dict(env), dict(policy)
        self._train_loop = dict(train_cfg)

    @classmethod
    def from_cfg(cls, cfg) -> RLRunner:
        """Build from an experiment config (the keys of ``__init__``); supervised-training keys are refused."""
        cfg = copy.deepcopy(cfg)
        used = [k for k in _SUPERVISED_KEYS if cfg.get(k) is not None]
        if used:
            raise ConfigError(f"runner_type='RLRunner' does not use {', '.join(used)}: the env feeds the policy and "
                              "the policy owns its optimizer. Remove these keys (or set them to None).")
        missing = [k for k in ("env", "policy", "train_cfg") if cfg.get(k) is None]
        if missing:
            raise ConfigError(f"runner_type='RLRunner' needs top-level {', '.join(missing)}: e.g. "
                              "env=dict(type='DisasterRescueEnv', preset='easy'), policy=dict(type='PPOAgent'), "
                              "train_cfg=dict(type='RLTrainLoop', total_timesteps=100_000).")
        return cls(env=cfg["env"], policy=cfg["policy"], train_cfg=cfg["train_cfg"], work_dir=cfg["work_dir"],
                   default_hooks=cfg.get("default_hooks"), custom_hooks=cfg.get("custom_hooks"),
                   load_from=cfg.get("load_from"), resume=cfg.get("resume", False),
                   launcher=cfg.get("launcher", "none"), env_cfg=cfg.get("env_cfg"),
                   log_processor=cfg.get("log_processor"), log_level=cfg.get("log_level", "INFO"),
                   visualizer=cfg.get("visualizer"), default_scope=cfg.get("default_scope", "aegis"),
                   randomness=cfg.get("randomness"), experiment_name=cfg.get("experiment_name"), cfg=cfg)

    def build_train_loop(self, loop):
        """Build ``train_cfg`` from LOOPS, injecting this runner and the experiment's env and policy configs."""
        from mmengine.runner import BaseLoop

        from aegis.build import build_component

        if isinstance(loop, BaseLoop):
            return loop
        return build_component(loop, Loop, path="train_cfg", runner=self, env=self.rl_env_cfg,
                               policy=self.rl_policy_cfg)

    def train(self):
        """Train until the loop's ``total_timesteps``; returns the trained torch policy."""
        loop = self.train_loop
        self.call_hook("before_run")
        try:
            loop.run()
        finally:
            loop.close()
        self.call_hook("after_run")
        return self.model

    def dry_run(self) -> None:
        """Build env, policy and loop, then one short rollout and one update (see RLTrainLoop.dry_run)."""
        loop = self.train_loop
        try:
            loop.dry_run()
        finally:
            loop.close()

    def load_or_resume(self) -> None:
        """``resume``: continue from ``load_from`` or the newest good ``step_*.pth``; ``load_from`` alone: weights."""
        if self._has_loaded:
            return
        loop = self.train_loop
        if self._resume:
            from aegis.engine import checkpoint_candidates

            candidates = ([self._load_from] if self._load_from else
                          [p for p in checkpoint_candidates(self.work_dir) if osp.basename(p).startswith("step_")])
            init = self.cfg.get("_init_from") if self.cfg is not None else None
            if not candidates and init:  # --resume on a fresh work dir: the experiment's load_from initialises
                loop.load_checkpoint(init, resume=False)
                self.logger.info(f"--resume: no checkpoint in {self.work_dir}; policy weights from {init}.")
            elif not candidates:
                self.logger.info(f"--resume: no checkpoint in {self.work_dir}; starting from scratch.")
            for path in candidates:
                try:
                    loop.load_checkpoint(path, resume=True)
                except CheckpointError as exc:
                    if self._load_from:
                        raise
                    self.logger.warning(f"Skipping bad checkpoint: {exc}")
                    continue
                self.logger.info(f"Resumed from {path} at {loop.agent.num_timesteps} env steps (iter {loop.iter}).")
                break
            else:
                if candidates:
                    raise CheckpointError(f"--resume: none of the checkpoints in {self.work_dir} loads: "
                                          + ", ".join(candidates))
        elif self._load_from:
            loop.load_checkpoint(self._load_from, resume=False)
            self.logger.info(f"Loaded policy weights from {self._load_from} (training starts at step 0).")
        self._has_loaded = True
