"""The training loop of the RL phase: SB3's PPO (Schulman et al., 2017) trained by ``PPO.learn`` inside the Runner.

``run()`` makes one call of SB3's public ``learn(total_timesteps, callback=..., reset_num_timesteps=False)``; the
Runner's side happens in SB3 callbacks (:mod:`aegis_plugins.policies.callbacks`): episode statistics, logging to
the message hub and visualizer (TensorBoard) after each iteration (one rollout of n_steps per env, then one PPO
update), a safe checkpoint every ``checkpoint_interval`` env steps, a stop on SIGTERM/SIGINT after saving, and at
the end a comparison of the trained policy with baselines (random, the map-knowing scripted rescuer) and reference
checkpoints on the same seeded episodes.

A checkpoint also holds what the next rollout depends on (the global generators, SB3's last observations and
episode starts, each env's episode in progress and generator, Monitor's running episode, VecFrameStack's stacked
frames), so a run killed anywhere and resumed from its newest checkpoint ends bit-identical to an uninterrupted one
when the env follows :class:`~aegis_plugins.policies.vec_env.ResumableEnv`; other envs resume with fresh episodes.
"""
from __future__ import annotations

import math
import os
import os.path as osp
import time
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from mmengine.runner import BaseLoop
from stable_baselines3.common.callbacks import CallbackList

from aegis.annotations import Component
from aegis.contracts import Environment, RLAgent
from aegis.engine import RunStopped
from aegis.engine.random_state import capture_random_states, restore_random_states
from aegis.errors import ConfigError, closest

from .agent_io import CHECKPOINT_KIND, build_agent, read_checkpoint
from .callbacks import (EpisodeStatsCallback, ProgressCallback, RandomBaselineEvalCallback, RunnerLogCallback,
                        SafeCheckpointCallback)

__all__ = ["RLTrainLoop"]


class _NoDataloader:
    """Env rollouts replace a dataloader. mmengine has no public door for a loop without one: BaseLoop stores it and
    RuntimeInfoHook.before_train reads ``runner.train_dataloader.dataset`` (looking for a ``metainfo``)."""

    dataset = None


class RLTrainLoop(BaseLoop):
    """Train a POLICIES agent (e.g. PPOAgent) for ``total_timesteps`` env steps on ``n_envs`` vectorised envs.

    ``env`` and ``policy`` are the experiment's top-level configs, injected by RLRunner. ``vec_env`` picks
    in-process ("dummy") or subprocess ("subproc") envs. ``frame_stack`` > 1 stacks the last frames of each env
    with SB3's VecFrameStack: the one place frame stacking is set (envs do not stack frames themselves); the
    evaluation, checkpoints and ``load_sb3_agent`` take it from here. Checkpoints go to
    ``<work_dir>/step_<N>.pth`` every ``checkpoint_interval`` steps and at the end (the newest ``max_keep_ckpts``
    are kept). ``eval_episodes`` episodes (seeds ``eval_seed`` + i) compare the trained policy at the end with the
    ``eval_baselines`` (names in rl_eval.BASELINES: "random", "heuristic") and the ``eval_references`` (name -> an
    RL checkpoint or a run's work dir); the numbers go to the log and metrics.json (``eval/<metric>`` for the agent,
    ``eval/<name>_<metric>`` for the others), and the first episode to a video.
    """

    def __init__(self, runner, env: Component[Environment], policy: Component[RLAgent], total_timesteps: int = 100_000, n_envs: int = 8,
                 vec_env: Literal["dummy", "subproc"] = "dummy", frame_stack: int = 1,
                 checkpoint_interval: int = 50_000, max_keep_ckpts: int = 3, log_interval: int = 1,
                 eval_episodes: int = 100, eval_seed: int = 100_000, eval_deterministic: bool = False,
                 eval_video: bool = True, eval_baselines: Sequence[str] = ("random",),
                 eval_references: Mapping[str, str] | None = None, stats_window: int = 100,
                 dry_run_steps: int = 8) -> None:
        super().__init__(runner, dataloader=_NoDataloader())
        for name, value in (("total_timesteps", total_timesteps), ("n_envs", n_envs), ("frame_stack", frame_stack),
                            ("checkpoint_interval", checkpoint_interval), ("log_interval", log_interval),
                            ("stats_window", stats_window), ("dry_run_steps", dry_run_steps)):
            if value < 1:
                raise ConfigError(f"train_cfg.{name}={value}: expected a positive integer.")
        if vec_env not in ("dummy", "subproc"):
            raise ConfigError(f"train_cfg.vec_env={vec_env!r}: expected 'dummy' (in-process envs) or 'subproc' "
                              "(one process per env).")
        self.env_cfg, self.policy_cfg = dict(env), dict(policy)
        self.eval_baselines, self.eval_references = _check_eval_policies(eval_baselines, eval_references)
        self.total_timesteps, self.n_envs, self.vec_env = total_timesteps, n_envs, vec_env
        self.frame_stack, self.checkpoint_interval = frame_stack, checkpoint_interval
        self.max_keep_ckpts = max_keep_ckpts
        self.log_interval, self.eval_episodes, self.eval_seed = log_interval, eval_episodes, eval_seed
        self.eval_deterministic, self.eval_video = eval_deterministic, eval_video
        self.stats_window, self.dry_run_steps = stats_window, dry_run_steps
        self.agent = None
        self.envs = None
        self.stats = EpisodeStatsCallback(stats_window)
        self.iter = 0  # PPO updates done (counted by RunnerLogCallback), what mmengine's hooks read
        self._resume_state: dict | None = None  # a checkpoint's "resume" part, applied when training starts
        self._resume_note = ""  # why a resume cannot replay exactly ("" when it can)

    # --- what mmengine's Runner and hooks read ----------------------------------------------------------------------
    @property
    def max_iters(self) -> int:
        """Iterations (rollout + update) to reach ``total_timesteps``."""
        steps = int(self.policy_cfg.get("n_steps", 1)) * self.n_envs
        return math.ceil(self.total_timesteps / max(1, steps))

    # mmengine's Runner.epoch / max_epochs delegate to the loop, and run-level hooks read them (RuntimeInfoHook
    # before training, AEGIS's MetricsJsonHook after it) with no public way for a loop to have no epochs: an RL run
    # reports itself as one pass, epoch 0 of 1.
    @property
    def epoch(self) -> int:
        return 0

    @property
    def max_epochs(self) -> int:
        return 1

    # --- building -------------------------------------------------------------------------------------------------
    def build(self, n_envs: int | None = None, policy_overrides: Mapping | None = None) -> None:
        """Build the vectorised envs and the agent (seeded from the runner's seed)."""
        from .vec_env import build_vec_env

        seed = self.runner.seed
        self.envs = build_vec_env(self.env_cfg, n_envs or self.n_envs, seed, self.vec_env, self.frame_stack)
        self.agent = build_agent(dict(self.policy_cfg, **(policy_overrides or {})), self.envs, seed)
        self.runner.model = self.agent.module

    def close(self) -> None:
        if self.envs is not None:
            self.envs.close()
            self.envs = None

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def checkpoint_path(self, steps: int) -> str:
        return osp.join(self.runner.work_dir, f"step_{steps}.pth")

    def save_checkpoint(self, path: str | None = None, mark_last: bool = True,
                        random_states: dict | None = None) -> str:
        """Write the agent (without a frozen encoder's weights), counters, the build config and the resume state
        (``random_states``: the generators at the end of the iteration, captured now if None) atomically.

        ``mark_last`` names it in ``<work_dir>/last_checkpoint`` (what ``--resume`` picks) and prunes old ones.
        """
        from aegis.engine import atomic_save
        from aegis.engine.checkpoint import to_plain
        from aegis.engine.stop import mark_last_checkpoint

        from .vec_env import get_vec_env_state

        path = path or self.checkpoint_path(self.agent.num_timesteps)
        agent = self.agent.state_dict()
        policy_cfg = _plain(self.policy_cfg)
        if agent.get("frozen_encoder") and isinstance(policy_cfg.get("features_extractor"), dict):
            # the file actually loaded (a work dir's last_checkpoint may move on after this run)
            policy_cfg["features_extractor"]["checkpoint"] = agent["frozen_encoder"]["checkpoint"]
        checkpoint = dict(kind=CHECKPOINT_KIND, agent=agent, iter=self.iter, seed=int(self.runner.seed),
                          episodes_finished=self.stats.finished, episode_stats=list(self.stats.episodes),
                          build=dict(env=_plain(self.env_cfg), policy=policy_cfg, frame_stack=self.frame_stack),
                          resume=dict(random=random_states or capture_random_states(),
                                      rollout=to_plain(self.agent.rollout_state()),
                                      envs=to_plain(get_vec_env_state(self.envs)), n_envs=self.envs.num_envs))
        self.runner.call_hook("before_save_checkpoint", checkpoint=checkpoint)
        atomic_save(checkpoint, path)
        if not mark_last:
            return path
        mark_last_checkpoint(self.runner.work_dir, path)
        self._remove_old_checkpoints(keep=path)
        self.runner.logger.info(f"Saved checkpoint {path} at {self.agent.num_timesteps} steps.")
        return path

    def _remove_old_checkpoints(self, keep: str) -> None:
        if self.max_keep_ckpts < 1:
            return
        import glob
        found = sorted(glob.glob(osp.join(self.runner.work_dir, "step_*.pth")),
                       key=lambda p: int(osp.basename(p)[5:-4]) if osp.basename(p)[5:-4].isdigit() else -1)
        for old in found[:-self.max_keep_ckpts]:
            if old != keep:
                os.remove(old)

    def load_checkpoint(self, path: str, resume: bool = True) -> None:
        """Restore the agent from ``path``; with ``resume`` also its optimizer, step count and episode stats."""
        checkpoint = read_checkpoint(path)
        self.agent.load_state_dict(checkpoint["agent"], path=path, weights_only=not resume)
        if resume:
            self.iter = int(checkpoint["iter"])
            self.stats.finished = int(checkpoint["episodes_finished"])
            self.stats.episodes.extend(checkpoint["episode_stats"])
            self._resume_state, self._resume_note = checkpoint.get("resume"), ""
            if self._resume_state is None:
                self._resume_note = "the checkpoint holds no resume state (written before exact resume existed)"
            elif checkpoint.get("env_stacked_frames"):
                self._resume_note = ("the checkpoint's env stacked frames itself (written before frame stacking "
                                     "moved to train_cfg.frame_stack)")
            elif self._resume_state["envs"] is None:
                self._resume_note = (f"env type {self.env_cfg.get('type')!r} has no get_state()/set_state() (see "
                                     "ResumableEnv in aegis_plugins/policies/vec_env.py)")
            elif (checkpoint["build"]["env"] != _plain(self.env_cfg)
                  or checkpoint["build"]["frame_stack"] != self.frame_stack
                  or self._resume_state["n_envs"] != self.envs.num_envs):
                self._resume_note = (f"the env config, frame_stack or n_envs differ from the checkpoint's "
                                     f"({self._resume_state['n_envs']} envs, frame_stack "
                                     f"{checkpoint['build']['frame_stack']}, env {checkpoint['build']['env']})")

    def _continue_episodes(self) -> None:
        """Put back the envs (reset first, as in a fresh run), SB3's last observations and episode starts, and the
        generators of the checkpoint; ``learn()`` then continues the episodes in progress instead of resetting."""
        from .vec_env import set_vec_env_state

        state = self._resume_state
        self.envs.reset()
        set_vec_env_state(self.envs, _to_numpy(state["envs"]))
        self.agent.load_rollout_state(_to_numpy(state["rollout"]))
        restore_random_states(state["random"])

    # --- training -------------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Train with SB3's ``learn()`` until ``total_timesteps`` (callbacks log, checkpoint and stop on request),
        then compare with a random policy and write metrics.json. Raises RunStopped after a stop request."""
        runner = self.runner
        if self.agent is None:
            self.build()
        runner.load_or_resume()
        steps = self.agent.num_timesteps
        exact = bool(steps) and not self._resume_note and self._resume_state is not None
        if steps and not exact:  # fresh episodes, not a replay of the first ones
            self.envs.seed(int(runner.seed) + steps)
            if self._resume_state is not None:
                restore_random_states(self._resume_state["random"])
            runner.logger.warning(f"Resumed with fresh episodes (continued, not replayed bit for bit): "
                                  f"{self._resume_note}.")
        runner.call_hook("before_train")
        if exact:
            self._continue_episodes()
        checkpoints = SafeCheckpointCallback(self)
        evaluation = None
        if self.eval_episodes > 0:
            evaluation = RandomBaselineEvalCallback(
                self.env_cfg, self.eval_episodes, self.eval_seed, self.frame_stack, self.eval_deterministic,
                video_path=osp.join(runner.work_dir, "episode.mp4") if self.eval_video else None,
                baselines=self.eval_baselines, references=self.eval_references)
        # order matters: episodes are counted before the log reads them, the log refuses a diverged update before
        # the checkpoint would save it, and the evaluation comes after the final checkpoint (and the closed live bar)
        callbacks = [self.stats, RunnerLogCallback(self), ProgressCallback(self), checkpoints] \
            + ([evaluation] if evaluation else [])
        start = time.perf_counter()
        self.agent.learn(self.total_timesteps, callback=CallbackList(callbacks))
        train_seconds = time.perf_counter() - start
        if checkpoints.stopped is not None:
            why, steps, path = checkpoints.stopped
            raise RunStopped(f"Stopped by {why} after {steps} env steps; saved {path}.", checkpoint=path)
        self.close()
        self._final_report(train_seconds - (evaluation.seconds if evaluation else 0.0),
                           evaluation.result if evaluation else None)
        runner.call_hook("after_train")

    def _final_report(self, train_seconds: float, result: dict | None) -> dict:
        from aegis.engine import write_metrics_json

        runner = self.runner
        metrics: dict = {"total_timesteps": self.agent.num_timesteps, "train_seconds": round(train_seconds, 1),
                         "iters": self.iter}
        if result is not None:
            metrics.update({f"eval/{k}": v for k, v in result.items()})
            scalars = {f"eval/{k}": v for k, v in result.items() if isinstance(v, float)}
            for key, value in scalars.items():
                runner.message_hub.update_scalar(key, value)
            runner.visualizer.add_scalars(scalars, step=self.agent.num_timesteps)
            rate, random_rate = result.get("success_rate"), result.get("random_success_rate")
            if rate is not None and random_rate is not None:
                metrics["eval/success_vs_random"] = round(rate / random_rate, 3) if random_rate > 0 else None
            names = result.get("policies") or ["trained", "random"]
            width = max(len(n) for n in names) + 1
            runner.logger.info(
                f"RL summary after {self.agent.num_timesteps} steps ({train_seconds:.0f} s of training), "
                f"{self.eval_episodes} episodes on seeds {self.eval_seed}..{self.eval_seed + self.eval_episodes - 1}:"
                + "".join(f"\n  {name + ':':{width}s} " + _describe(result, "" if i == 0 else f"{name}_")
                          for i, name in enumerate(names))
                + (f"\n  video: {result['video']}" if "video" in result else ""))
        write_metrics_json(runner.work_dir, metrics)
        return metrics

    # --- dry run --------------------------------------------------------------------------------------------------
    def dry_run(self) -> dict[str, float]:
        """Build everything, do one short rollout (``dry_run_steps`` per env) and one update through ``learn()``,
        save and reload; returns SB3's train/* values."""
        from aegis.engine import safe_load

        n_envs = min(self.n_envs, 2)
        self.build(n_envs=n_envs, policy_overrides=dict(n_steps=self.dry_run_steps,
                                                         batch_size=self.dry_run_steps * n_envs, n_epochs=1))
        self.agent.learn(self.dry_run_steps * n_envs, callback=self.stats)
        losses = self.agent.train_values()
        self.iter = 1
        path = self.save_checkpoint(osp.join(self.runner.work_dir, "dry_run.pth"), mark_last=False)
        safe_load(path)
        self.close()
        self.runner.logger.info(f"RL dry run: {self.agent.num_timesteps} env steps on {n_envs} envs, one update "
                                f"({', '.join(f'{k}: {v:.4g}' for k, v in losses.items())}), checkpoint {path}.")
        return losses


def _describe(result: Mapping, prefix: str) -> str:
    parts = []
    for key, label in (("success_rate", "success"), ("mean_return", "return"), ("rescued", "rescued"),
                       ("lost", "lost"), ("spl", "SPL"), ("mean_length", "length")):
        if f"{prefix}{key}" in result:
            parts.append(f"{label} {result[prefix + key]:.3f}")
    return ", ".join(parts)


def _check_eval_policies(baselines: Sequence[str], references: Mapping[str, str] | None
                         ) -> tuple[tuple[str, ...], dict[str, str]]:
    """train_cfg.eval_baselines and eval_references checked before anything trains: known baseline names, files or
    work dirs that exist, no name used twice."""
    from aegis.engine.checkpoint import resolve_checkpoint

    from .rl_eval import BASELINES

    if isinstance(baselines, str):
        raise ConfigError(f"train_cfg.eval_baselines={baselines!r}: expected a list of names, e.g. ({baselines!r},).")
    for name in baselines:
        if name not in BASELINES:
            near = closest(name, BASELINES)
            raise ConfigError(f"train_cfg.eval_baselines: {name!r} is not a baseline; expected names from "
                              f"{sorted(BASELINES)}" + (f". Did you mean {near[0]!r}?" if near else "."))
    references = dict(references or {})
    for name, path in references.items():
        if name in baselines or name == "trained":
            raise ConfigError(f"train_cfg.eval_references.{name}: the name {name!r} is taken (the trained agent or a "
                              "baseline); pick another.")
        resolve_checkpoint(path, f"train_cfg.eval_references.{name}")
    return tuple(baselines), references


def _to_numpy(value):
    """Tensors back to numpy arrays (what envs and SB3 hold), through dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, Mapping):
        return {k: _to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(v) for v in value)
    return value


def _plain(value):
    """Config values as plain Python containers (ConfigDict -> dict, tuples kept), storable with weights_only."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value) if isinstance(value, tuple) else [_plain(v) for v in value]
    return value
