"""SB3 callbacks through which the RL loop runs inside the mmengine Runner: ``PPO.learn(callback=...)`` drives them.

SB3 calls a callback at the start of training, at each rollout's start and end, after every env step and at the end
of training (see ``stable_baselines3.common.callbacks.BaseCallback``). An iteration of the RL loop is one rollout and
the PPO update after it; :class:`IterationCallback` adds that missing event (``_on_update_end``: the next rollout's
start, or the end of training) and ``_on_run_end`` (the end of a run no callback stopped).

- :class:`EpisodeStatsCallback` keeps the finished episodes (Monitor's return/length, the env's success, SPL, ...).
- :class:`ProgressCallback` draws a live bar in env steps with the episode return and success rate (a terminal only).
- :class:`RunnerLogCallback` counts iterations, refuses non-finite losses and logs to the runner's message hub,
  visualizer (TensorBoard; the result/progress files read it) and log.
- :class:`SafeCheckpointCallback` writes AEGIS's safe checkpoints every N env steps and at the end, and stops
  ``learn()`` (``_on_step`` returns False) after saving when a stop was requested (SIGTERM/SIGINT).
- :class:`RandomBaselineEvalCallback` compares the trained agent with baselines (random, the scripted rescuer) and
  reference checkpoints at the end, on the same seeded episodes (``evaluate_policy``).
"""
from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from aegis.engine import RunDiverged, non_finite_terms, stop_requested
from aegis.engine.random_state import capture_random_states, restore_random_states

from .rl_eval import compare_with_random

if TYPE_CHECKING:
    from .rl_loop import RLTrainLoop

__all__ = ["EpisodeStatsCallback", "IterationCallback", "ProgressCallback", "RunnerLogCallback",
           "SafeCheckpointCallback", "RandomBaselineEvalCallback"]


class EpisodeStatsCallback(BaseCallback):
    """Collects one record per finished episode (Monitor's return/length plus the env's rescued/lost/success/spl)
    into ``episodes`` (the newest ``window``); ``finished`` counts them all."""

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
        """Means over the kept episodes: ep_return, ep_length, success_rate, rescued, lost, spl (those present)."""
        names = dict(ep_return="ep_return", ep_length="ep_length", success="success_rate", rescued="rescued",
                     lost="lost", spl="spl")
        out = {}
        for key, name in names.items():
            values = [e[key] for e in self.episodes if key in e]
            if values:
                out[name] = float(np.mean(values))
        return out


class ProgressCallback(BaseCallback):
    """A live bar over the run's env steps (``loop.total_timesteps``, from the resumed step count) with the PPO
    iteration and the means of the kept episodes (return, success rate), through :mod:`aegis.engine.progress`: on
    a terminal only, so a piped, CI or sweep run logs its ordinary lines alone. The status is read only when the
    bar is redrawn (a few times a second), so a step costs a counter update."""

    def __init__(self, loop: RLTrainLoop) -> None:
        super().__init__()
        self.loop = loop
        self.bar = None

    def _on_training_start(self) -> None:
        from aegis.engine.progress import ProgressBar

        self.bar = ProgressBar(self.loop.total_timesteps, "RL", unit="steps", completed=self.model.num_timesteps,
                               status=self._status)

    def _status(self) -> str:
        loop = self.loop
        means = loop.stats.means()
        parts = [f"iter {loop.iter}/{loop.max_iters}"]
        if "ep_return" in means:
            parts.append(f"return {means['ep_return']:.3g}")
        if "success_rate" in means:
            parts.append(f"success {means['success_rate']:.2f}")
        return " ".join(parts)

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.model.num_timesteps)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.update(self.model.num_timesteps)
            self.bar.close()
            self.bar = None


class IterationCallback(BaseCallback):
    """An SB3 callback with two more events of on-policy training.

    ``_on_update_end()`` runs after each PPO update: SB3's ``learn()`` updates right after a rollout ends and calls
    no callback then, so it runs at the next rollout's start or at the end of training. ``_on_run_end()`` runs at
    the end of training unless a callback stopped ``learn()`` inside a rollout (``_on_step`` returned False).
    """

    def __init__(self) -> None:
        super().__init__()
        self._in_rollout = False
        self._update_pending = False

    def _on_rollout_start(self) -> None:
        if self._update_pending:
            self._update_pending = False
            self._on_update_end()
        self._in_rollout = True

    def _on_rollout_end(self) -> None:
        self._in_rollout, self._update_pending = False, True  # learn() updates next

    def _on_training_end(self) -> None:
        if self._in_rollout:  # stopped by a callback: no update followed this partial rollout
            return
        if self._update_pending:
            self._update_pending = False
            self._on_update_end()
        self._on_run_end()

    def _on_step(self) -> bool:
        return True

    def _on_update_end(self) -> None:
        pass

    def _on_run_end(self) -> None:
        pass


class RunnerLogCallback(IterationCallback):
    """After each PPO update: counts the iteration (``loop.iter``, what mmengine's hooks read), stops the run with
    :class:`~aegis.engine.RunDiverged` on a non-finite loss term (before anything of it is saved), and every
    ``loop.log_interval`` iterations logs the episode means and SB3's train/* values to the runner's message hub and
    visualizer (TensorBoard; the run's result/progress files read them there), with env steps as the x axis."""

    def __init__(self, loop: RLTrainLoop) -> None:
        super().__init__()
        self.loop = loop

    def _on_training_start(self) -> None:
        self._start, self._start_steps = time.perf_counter(), self.model.num_timesteps

    def _on_update_end(self) -> None:
        loop, steps = self.loop, self.model.num_timesteps
        loop.iter += 1
        losses = loop.agent.train_values()
        bad = non_finite_terms(losses)
        if bad:
            raise RunDiverged(f"Diverged at RL iteration {loop.iter} ({steps} env steps): "
                              + ", ".join(f"{k}={v}" for k, v in bad.items())
                              + f"; learning rate {loop.policy_cfg.get('learning_rate')}. Nothing was saved "
                              "after it. Lower policy.learning_rate or max_grad_norm.")
        if loop.iter % loop.log_interval == 0 or steps >= loop.total_timesteps:
            self._log(losses, fps=(steps - self._start_steps) / max(1e-9, time.perf_counter() - self._start))

    def _log(self, losses: dict[str, float], fps: float) -> None:
        loop, steps = self.loop, self.model.num_timesteps
        runner = loop.runner
        scalars = {f"train/{k}": v for k, v in loop.stats.means().items()}
        scalars.update(losses)
        scalars.update({"train/fps": fps, "train/total_timesteps": float(steps)})
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(scalars, step=steps)
        shown = ", ".join(f"{k.split('/', 1)[1]}: {v:.4g}" for k, v in scalars.items()
                          if k.split("/", 1)[1] in ("ep_return", "success_rate", "rescued", "spl", "value_loss",
                                                     "policy_gradient_loss", "entropy_loss", "approx_kl", "fps"))
        runner.logger.info(f"RL iter {loop.iter}/{loop.max_iters} steps {steps}/{loop.total_timesteps} - {shown}")


class SafeCheckpointCallback(IterationCallback):
    """Writes ``loop.save_checkpoint()`` files (weights_only-loadable, atomic; see RLTrainLoop) after the update
    that crosses each ``loop.checkpoint_interval`` env steps and at the end of the run.

    On a stop request (:func:`aegis.engine.stop_requested`: SIGTERM, or SIGINT once) it saves after the current
    update, records ``stopped = (signal name, env steps, checkpoint path)`` and returns False from the next ``_on_step``, which
    ends ``learn()``; the loop then raises RunStopped (exit status 3). The generators are captured right after the
    update and put back after saving, so whatever runs around a save cannot shift the run.
    """

    def __init__(self, loop: RLTrainLoop) -> None:
        super().__init__()
        self.loop = loop
        self.last_saved: str | None = None
        self.stopped: tuple[str, int, str] | None = None

    def _on_training_start(self) -> None:
        interval = self.loop.checkpoint_interval
        self._next = (self.model.num_timesteps // interval + 1) * interval

    def _on_step(self) -> bool:
        return self.stopped is None

    def _on_update_end(self) -> None:
        loop, steps = self.loop, self.model.num_timesteps
        random_states = capture_random_states()  # what the next rollout draws from, whatever runs before it
        if steps >= self._next:
            self.last_saved = loop.save_checkpoint(random_states=random_states)
            self._next = (steps // loop.checkpoint_interval + 1) * loop.checkpoint_interval
            restore_random_states(random_states)
        why = stop_requested()
        if why is not None and steps < loop.total_timesteps:
            if self.last_saved != loop.checkpoint_path(steps):
                self.last_saved = loop.save_checkpoint(random_states=random_states)
            self.stopped = (why, steps, self.last_saved)

    def _on_run_end(self) -> None:
        if self.last_saved != self.loop.checkpoint_path(self.model.num_timesteps):
            self.last_saved = self.loop.save_checkpoint()


class RandomBaselineEvalCallback(IterationCallback):
    """At the end of a run no callback stopped: the trained agent, the named ``baselines`` (default
    :class:`~.rl_eval.RandomPolicy` alone; ``"heuristic"`` adds the map-knowing
    :class:`~.heuristic.ScriptedRescuePolicy`) and the ``references`` (name -> an RL checkpoint or a run's work
    dir, each played with its own env observation and frame stack) play the same ``n_episodes`` episodes (episode
    i seeded ``seed + i``) through SB3's ``evaluate_policy``, on a fresh env built from ``env_cfg`` with frames
    stacked ``frame_stack`` deep as in training. The summary (see :func:`~.rl_eval.compare_with_random`: plain keys
    for the agent, ``<name>_`` keys for the others) is kept in ``result`` and its wall-clock time in ``seconds``;
    ``video_path`` gets the agent's first episode."""

    def __init__(self, env_cfg: dict, n_episodes: int, seed: int, frame_stack: int = 1, deterministic: bool = False,
                 video_path: str | None = None, baselines: tuple[str, ...] = ("random",),
                 references: dict[str, str] | None = None) -> None:
        super().__init__()
        self.env_cfg, self.n_episodes, self.seed, self.frame_stack = dict(env_cfg), n_episodes, seed, frame_stack
        self.deterministic, self.video_path = deterministic, video_path
        self.baselines, self.references = tuple(baselines), dict(references or {})
        self.result: dict | None = None
        self.seconds = 0.0

    def _on_run_end(self) -> None:
        from .rl_eval import load_reference

        start = time.perf_counter()
        references = {name: load_reference(path, where=f"train_cfg.eval_references.{name}")
                      for name, path in self.references.items()}
        self.result = compare_with_random(self.env_cfg, self.model, self.n_episodes, self.seed, self.frame_stack,
                                          self.deterministic, video_path=self.video_path,
                                          baselines=self.baselines, references=references)
        self.seconds = time.perf_counter() - start
