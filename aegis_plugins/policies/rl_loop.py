"""The training loop of the RL phase: SB3 rollouts and PPO updates (Schulman et al., 2017) driven inside the Runner.

One loop iteration is one rollout (n_steps per env over the vectorised envs) followed by one PPO update. The loop
logs episode statistics (return, length, success rate, victims rescued and lost, SPL) and PPO's losses to the
runner's message hub and visualizer (TensorBoard), saves a checkpoint every ``checkpoint_interval`` env steps,
and at the end compares the trained policy with a random one on the same seeded episodes.

A checkpoint also holds what the next rollout depends on (the global generators, SB3's last observations and
episode starts, each env's episode in progress and generator, Monitor's running episode, the frame stack), so a
run killed anywhere and resumed from its newest checkpoint ends bit-identical to an uninterrupted one when the env
follows :class:`~aegis_plugins.policies.vec_env.ResumableEnv`; other envs resume with fresh episodes.
"""
from __future__ import annotations

import math
import os
import os.path as osp
import time
from collections import deque
from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from mmengine.runner import BaseLoop
from stable_baselines3.common.callbacks import BaseCallback

from aegis.engine import RunDiverged, RunStopped, non_finite_terms, stop_requested
from aegis.engine.random_state import capture_random_states, restore_random_states
from aegis.errors import CheckpointError, ConfigError

__all__ = ["RLTrainLoop", "build_policy", "load_agent"]

CHECKPOINT_KIND = "aegis.rl_checkpoint/1"


class _EpisodeStats(BaseCallback):
    """Collects one record per finished episode (Monitor's return/length plus the env's rescued/lost/success/spl)."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.episodes: deque[dict] = deque(maxlen=window)
        self.finished = 0

    def _on_step(self) -> bool:
        dones = self.locals["dones"]
        if dones.any():
            infos = self.locals["infos"]
            for i in np.flatnonzero(dones):
                info = infos[i]
                episode = info.get("episode")
                record = dict(ep_return=float(episode["r"]), ep_length=float(episode["l"])) if episode else {}
                for key in ("rescued", "lost", "success", "spl"):
                    if key in info:
                        record[key] = float(info[key])
                self.episodes.append(record)
                self.finished += 1
        return True

    def means(self) -> dict[str, float]:
        names = dict(ep_return="ep_return", ep_length="ep_length", success="success_rate", rescued="rescued",
                     lost="lost", spl="spl")
        out = {}
        for key, name in names.items():
            values = [e[key] for e in self.episodes if key in e]
            if values:
                out[name] = float(np.mean(values))
        return out


class _NoDataloader:
    """Env rollouts replace a dataloader; mmengine's hooks only look for ``dataset.metainfo``, which is absent."""

    dataset = None


def build_policy(policy_cfg: Mapping, envs, seed: int | None, for_inference: bool = False):
    """Build the POLICIES config on ``envs`` (injecting env and seed); ``for_inference`` relaxes batch sizes."""
    from aegis.build import build_component
    from aegis.registry import POLICIES

    cfg = dict(policy_cfg)
    if for_inference and "n_steps" in cfg:  # minibatch sizes only matter for updates
        cfg["batch_size"] = int(cfg["n_steps"]) * envs.num_envs
    return build_component(cfg, POLICIES, path="policy", default_args=dict(env=envs, seed=seed))


def load_agent(path: str, n_envs: int = 1, seed: int = 0):
    """(policy, checkpoint) from an RL checkpoint, rebuilt on ``n_envs`` fresh envs from the config stored in it."""
    from .vec_env import build_vec_env

    checkpoint = _read_checkpoint(path)
    build = checkpoint["build"]
    envs = build_vec_env(build["env"], n_envs, seed, "dummy", build["frame_stack"])
    policy = build_policy(build["policy"], envs, seed, for_inference=True)
    policy.load_state_dict(checkpoint["agent"], path=path, weights_only=True)
    return policy, checkpoint


def _read_checkpoint(path: str) -> dict:
    """An RL checkpoint read with weights_only=True; anything else is a CheckpointError naming the file."""
    from aegis.engine import safe_load

    try:
        checkpoint = safe_load(path)
    except CheckpointError:
        raise
    except Exception as exc:  # garbage bytes can fail deep inside the unpickler (IndexError, KeyError, ...)
        raise CheckpointError(f"Checkpoint {path!r} is truncated or corrupt: {type(exc).__name__}: {exc}") from exc
    if not isinstance(checkpoint, Mapping) or checkpoint.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path}: not an AEGIS RL checkpoint (expected a dict with kind={CHECKPOINT_KIND!r}); "
                              "pass a step_*.pth written by an RL run (runner_type='RLRunner').")
    return checkpoint


class RLTrainLoop(BaseLoop):
    """Train a POLICIES agent (e.g. PPOPolicy) for ``total_timesteps`` env steps on ``n_envs`` vectorised envs.

    ``env`` and ``policy`` are the experiment's top-level configs, injected by RLRunner. ``vec_env`` picks
    in-process ("dummy") or subprocess ("subproc") envs; ``frame_stack`` > 1 stacks frames with VecFrameStack.
    Checkpoints go to ``<work_dir>/step_<N>.pth`` every ``checkpoint_interval`` steps and at the end (the newest
    ``max_keep_ckpts`` are kept). ``eval_episodes`` episodes (seeds ``eval_seed`` + i) compare the trained and a
    random policy at the end; the numbers go to the log and metrics.json, and the first episode to a video.
    """

    injected_args = ("env", "policy")

    def __init__(self, runner, env: dict, policy: dict, total_timesteps: int = 100_000, n_envs: int = 8,
                 vec_env: Literal["dummy", "subproc"] = "dummy", frame_stack: int = 1,
                 checkpoint_interval: int = 50_000, max_keep_ckpts: int = 3, log_interval: int = 1,
                 eval_episodes: int = 100, eval_seed: int = 100_000, eval_deterministic: bool = False,
                 eval_video: bool = True, stats_window: int = 100, dry_run_steps: int = 8) -> None:
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
        self.total_timesteps, self.n_envs, self.vec_env = total_timesteps, n_envs, vec_env
        self.frame_stack, self.checkpoint_interval = frame_stack, checkpoint_interval
        self.max_keep_ckpts = max_keep_ckpts
        self.log_interval, self.eval_episodes, self.eval_seed = log_interval, eval_episodes, eval_seed
        self.eval_deterministic, self.eval_video = eval_deterministic, eval_video
        self.stats_window, self.dry_run_steps = stats_window, dry_run_steps
        self.agent = None
        self.envs = None
        self.stats = _EpisodeStats(stats_window)
        self._iter = 0
        self._resume_from: str | None = None
        self._resume_state: dict | None = None  # a checkpoint's "resume" part, applied when training starts
        self._resume_note = ""  # why a resume cannot replay exactly ("" when it can)

    # --- what mmengine's hooks read -------------------------------------------------------------------------------
    @property
    def iter(self) -> int:
        return self._iter

    @property
    def max_iters(self) -> int:
        steps = int(self.policy_cfg.get("n_steps", 1)) * self.n_envs
        return math.ceil(self.total_timesteps / max(1, steps))

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
        self.agent = build_policy(dict(self.policy_cfg, **(policy_overrides or {})), self.envs, seed)
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

        from .vec_env import get_vec_env_state

        path = path or self.checkpoint_path(self.agent.num_timesteps)
        agent = self.agent.state_dict()
        policy_cfg = _plain(self.policy_cfg)
        if agent.get("frozen_encoder") and isinstance(policy_cfg.get("features_extractor"), dict):
            # the file actually loaded (a work dir's last_checkpoint may move on after this run)
            policy_cfg["features_extractor"]["checkpoint"] = agent["frozen_encoder"]["checkpoint"]
        checkpoint = dict(kind=CHECKPOINT_KIND, agent=agent, iter=self._iter, seed=int(self.runner.seed),
                          episodes_finished=self.stats.finished, episode_stats=list(self.stats.episodes),
                          build=dict(env=_plain(self.env_cfg), policy=policy_cfg, frame_stack=self.frame_stack),
                          resume=dict(random=random_states or capture_random_states(),
                                      rollout=to_plain(self.agent.rollout_state()),
                                      envs=to_plain(get_vec_env_state(self.envs)), n_envs=self.envs.num_envs))
        self.runner.call_hook("before_save_checkpoint", checkpoint=checkpoint)
        atomic_save(checkpoint, path)
        if not mark_last:
            return path
        with open(osp.join(self.runner.work_dir, "last_checkpoint.partial"), "w") as handle:
            handle.write(path)
        os.replace(osp.join(self.runner.work_dir, "last_checkpoint.partial"),
                   osp.join(self.runner.work_dir, "last_checkpoint"))
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
        checkpoint = _read_checkpoint(path)
        self.agent.load_state_dict(checkpoint["agent"], path=path, weights_only=not resume)
        if resume:
            self._iter = int(checkpoint["iter"])
            self.stats.finished = int(checkpoint["episodes_finished"])
            self.stats.episodes.extend(checkpoint["episode_stats"])
            self._resume_state, self._resume_note = checkpoint.get("resume"), ""
            if self._resume_state is None:
                self._resume_note = "the checkpoint holds no resume state (written before exact resume existed)"
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
        """After ``agent.start``: put back the envs, SB3's last observations and the generators of the checkpoint."""
        from .vec_env import set_vec_env_state

        state = self._resume_state
        set_vec_env_state(self.envs, _to_numpy(state["envs"]))
        self.agent.load_rollout_state(_to_numpy(state["rollout"]))
        restore_random_states(state["random"])

    # --- training -------------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Roll out and update until ``total_timesteps``, logging, checkpointing, then evaluate against random."""
        runner = self.runner
        if self.agent is None:
            self.build()
        runner.load_or_resume()
        exact = bool(self.agent.num_timesteps) and not self._resume_note and self._resume_state is not None
        if self.agent.num_timesteps and not exact:  # fresh episodes, not a replay of the first ones
            self.envs.seed(int(runner.seed) + self.agent.num_timesteps)
            if self._resume_state is not None:
                restore_random_states(self._resume_state["random"])
            runner.logger.warning(f"Resumed with fresh episodes (continued, not replayed bit for bit): "
                                  f"{self._resume_note}.")
        runner.call_hook("before_train")
        self.agent.start(self.total_timesteps, callback=self.stats)
        if exact:  # start() reset the envs; the episodes in progress at the checkpoint continue instead
            self._continue_episodes()
        start, start_steps = time.perf_counter(), self.agent.num_timesteps
        next_checkpoint = (self.agent.num_timesteps // self.checkpoint_interval + 1) * self.checkpoint_interval
        last_saved = None
        while self.agent.num_timesteps < self.total_timesteps:
            if not self.agent.collect_rollout():
                break
            losses = self.agent.update()
            random_states = capture_random_states()  # what the next rollout draws from, whatever runs before it
            self._iter += 1
            steps = self.agent.num_timesteps
            bad = non_finite_terms(losses)
            if bad:  # before any checkpoint of this iteration: the last good one stays
                raise RunDiverged(f"Diverged at RL iteration {self._iter} ({steps} env steps): "
                                  + ", ".join(f"{k}={v}" for k, v in bad.items())
                                  + f"; learning rate {self.policy_cfg.get('learning_rate')}. Nothing was saved "
                                  "after it. Lower policy.learning_rate or max_grad_norm.")
            if self._iter % self.log_interval == 0 or steps >= self.total_timesteps:
                fps = (steps - start_steps) / max(1e-9, time.perf_counter() - start)
                self._log(losses, fps)
            if steps >= next_checkpoint:
                last_saved = self.save_checkpoint(random_states=random_states)
                next_checkpoint = (steps // self.checkpoint_interval + 1) * self.checkpoint_interval
                restore_random_states(random_states)  # hooks and logging around the save cannot shift the run
            if stop_requested() is not None and steps < self.total_timesteps:  # SIGTERM: save here and leave
                path = (last_saved if last_saved == self.checkpoint_path(steps)
                        else self.save_checkpoint(random_states=random_states))
                raise RunStopped(f"Stopped by {stop_requested()} after {steps} env steps; saved {path}.",
                                 checkpoint=path)
        self.agent.finish()
        train_seconds = time.perf_counter() - start
        if last_saved != self.checkpoint_path(self.agent.num_timesteps):
            self.save_checkpoint()
        self.close()
        self._final_report(train_seconds)
        runner.call_hook("after_train")

    def _log(self, losses: Mapping[str, float], fps: float) -> None:
        runner, steps = self.runner, self.agent.num_timesteps
        scalars = {f"train/{k}": v for k, v in self.stats.means().items()}
        scalars.update(losses)
        scalars.update({"train/fps": fps, "train/total_timesteps": float(steps)})
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(scalars, step=steps)
        shown = ", ".join(f"{k.split('/', 1)[1]}: {v:.4g}" for k, v in scalars.items()
                          if k.split("/", 1)[1] in ("ep_return", "success_rate", "rescued", "spl", "value_loss",
                                                     "policy_gradient_loss", "entropy_loss", "approx_kl", "fps"))
        runner.logger.info(f"RL iter {self._iter}/{self.max_iters} steps {steps}/{self.total_timesteps} - {shown}")

    def _final_report(self, train_seconds: float) -> dict:
        from aegis.engine import write_metrics_json

        from .rl_eval import compare_with_random

        runner = self.runner
        metrics: dict = {"total_timesteps": self.agent.num_timesteps, "train_seconds": round(train_seconds, 1),
                         "iters": self._iter}
        if self.eval_episodes > 0:
            video = osp.join(runner.work_dir, "episode.mp4") if self.eval_video else None
            deterministic = self.eval_deterministic

            def act(obs):
                batch = {k: v[None] for k, v in obs.items()} if isinstance(obs, dict) else obs[None]
                return self.agent.predict(batch, deterministic=deterministic)[0]

            result = compare_with_random(self.env_cfg, act, self.eval_episodes, self.eval_seed, self.frame_stack,
                                         video_path=video)
            metrics.update({f"eval/{k}": v for k, v in result.items()})
            for key, value in result.items():
                if isinstance(value, float):
                    runner.message_hub.update_scalar(f"eval/{key}", value)
            runner.visualizer.add_scalars({f"eval/{k}": v for k, v in result.items() if isinstance(v, float)},
                                          step=self.agent.num_timesteps)
            rate, random_rate = result.get("success_rate"), result.get("random_success_rate")
            if rate is not None and random_rate is not None:
                metrics["eval/success_vs_random"] = round(rate / random_rate, 3) if random_rate > 0 else None
            runner.logger.info(
                f"RL summary after {self.agent.num_timesteps} steps ({train_seconds:.0f} s of training), "
                f"{self.eval_episodes} episodes on seeds {self.eval_seed}..{self.eval_seed + self.eval_episodes - 1}:"
                f"\n  trained: " + _describe(result, "") + "\n  random:  " + _describe(result, "random_")
                + (f"\n  video: {video}" if video else ""))
        write_metrics_json(runner.work_dir, metrics)
        return metrics

    # --- dry run --------------------------------------------------------------------------------------------------
    def dry_run(self) -> dict[str, float]:
        """Build everything, do one short rollout (``dry_run_steps`` per env) and one update, save and reload."""
        from aegis.engine import safe_load

        n_envs = min(self.n_envs, 2)
        self.build(n_envs=n_envs, policy_overrides=dict(n_steps=self.dry_run_steps,
                                                         batch_size=self.dry_run_steps * n_envs, n_epochs=1))
        self.agent.start(self.dry_run_steps * n_envs, callback=self.stats)
        self.agent.collect_rollout()
        losses = self.agent.update()
        self._iter = 1
        path = self.save_checkpoint(osp.join(self.runner.work_dir, "dry_run.pth"), mark_last=False)
        safe_load(path)
        self.close()
        self.runner.logger.info(f"RL dry run: {self.agent.num_timesteps} env steps on {n_envs} envs, one update "
                                f"({', '.join(f'{k}: {v:.4g}' for k, v in losses.items())}), checkpoint {path}.")
        return losses


def _describe(result: Mapping, prefix: str) -> str:
    parts = []
    for key, label in (("success_rate", "success"), ("mean_return", "return"), ("rescued", "rescued"),
                       ("spl", "SPL")):
        if f"{prefix}{key}" in result:
            parts.append(f"{label} {result[prefix + key]:.3f}")
    return ", ".join(parts)


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
