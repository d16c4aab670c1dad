"""Stopping a run at a safe point: SIGTERM (how Slurm, Colab and sweep agents stop a run) and SIGINT once.

The signal handler only sets a flag. :class:`StopCheckHook` looks at it after every training iteration (the RL loop
after every rollout and update), saves a checkpoint there and raises :class:`RunStopped`, which ``tools/run.py``
turns into ``result.json`` status ``stopped`` and exit status 3. A second SIGINT stops at once.
:class:`TimedCheckpointHook` saves the same kind of checkpoint by wall-clock interval.
"""
from __future__ import annotations

import os
import os.path as osp
import signal
import threading

from mmengine.hooks import Hook

__all__ = ["RunStopped", "StopCheckHook", "TimedCheckpointHook", "save_iteration_checkpoint", "install_stop_handlers",
           "restore_stop_handlers", "request_stop", "stop_requested", "clear_stop_request", "mark_last_checkpoint"]

_requested: str | None = None  # the name of the signal that asked for the stop, while one is pending


class RunStopped(Exception):
    """Raised at a safe point after a stop request. ``reason`` is ``"stopped"`` or ``"pruned"``."""

    def __init__(self, message: str, reason: str = "stopped", checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.checkpoint = reason, checkpoint


def request_stop(why: str = "SIGTERM") -> None:
    """Ask the running training loop to save and stop at its next safe point."""
    global _requested
    _requested = why


def stop_requested() -> str | None:
    """The pending stop request (a signal name), or None."""
    return _requested


def clear_stop_request() -> None:
    global _requested
    _requested = None


def _on_signal(signum, frame) -> None:
    name = signal.Signals(signum).name
    if name == "SIGINT" and _requested is not None:  # the second Ctrl-C: stop now
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise KeyboardInterrupt
    request_stop(name)


def install_stop_handlers() -> dict:
    """Route SIGTERM and SIGINT to the stop flag (main thread only); returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    clear_stop_request()
    return {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}


def restore_stop_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _agreed_stop() -> bool:
    """Whether any process has a stop request (all ranks agree under DDP, so they stop at the same iteration)."""
    return _any_rank(_requested is not None)


def _any_rank(local: bool) -> bool:
    """True on every rank when it is True on any (a collective under DDP)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return local
    import torch

    flag = torch.tensor([1 if local else 0])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def mark_last_checkpoint(work_dir: str, path: str) -> None:
    """Write ``<work_dir>/last_checkpoint`` (what ``--resume`` reads first) atomically."""
    from .checkpoint import atomic_write_text

    atomic_write_text(path, osp.join(work_dir, "last_checkpoint"))


def save_iteration_checkpoint(runner) -> str:
    """Save ``iter_<N>.pth`` after the current training iteration (inside an epoch; the epoch loop resumes it
    exactly) and name it in ``last_checkpoint``; returns its path."""
    from mmengine.dist import is_main_process

    if hasattr(runner.train_loop, "capture_now"):  # every rank's random states, before rank 0 alone saves
        runner.train_loop.capture_now()
    filename = f"iter_{runner.iter + 1}.pth"
    runner.save_checkpoint(runner.work_dir, filename, by_epoch=False)
    path = osp.join(runner.work_dir, filename)
    if is_main_process():
        mark_last_checkpoint(runner.work_dir, path)
    return path


class TimedCheckpointHook(Hook):
    """Save ``iter_<N>.pth`` every ``interval_minutes`` of wall-clock time, between epochs' own checkpoints.

    For long epochs on machines that disappear (a 12-hour Colab session with 3-hour epochs): a kill loses at most
    the interval. Only the newest timed checkpoint is kept; mmengine's epoch checkpoints are untouched.
    Use: ``custom_hooks=[dict(type="TimedCheckpointHook", interval_minutes=30)]``.
    """

    priority = "VERY_LOW"

    def __init__(self, interval_minutes: float = 30.0) -> None:
        if interval_minutes <= 0:
            from aegis.errors import ConfigError
            raise ConfigError(f"TimedCheckpointHook.interval_minutes={interval_minutes!r}: expected a positive "
                              "number of minutes, e.g. 30.")
        self.interval_s = 60.0 * interval_minutes
        self._last_save = None
        self._previous: str | None = None

    def before_train(self, runner) -> None:
        import time
        self._last_save = time.monotonic()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        import time

        if not _any_rank(time.monotonic() - self._last_save >= self.interval_s):  # ranks save together
            return
        path = save_iteration_checkpoint(runner)
        from mmengine.dist import is_main_process

        if is_main_process() and self._previous and self._previous != path and osp.isfile(self._previous):
            os.remove(self._previous)
        self._previous, self._last_save = path, time.monotonic()
        runner.logger.info(f"Timed checkpoint {path} (every {self.interval_s / 60:g} min).")


class StopCheckHook(Hook):
    """After each training iteration: on a stop request, save ``iter_<N>.pth`` and raise :class:`RunStopped`.

    The checkpoint records the iteration inside the epoch; AEGIS's epoch loop skips the batches already trained
    when it resumes from it, so the run continues where it stopped.
    """

    priority = "VERY_LOW"  # after the optimizer step, scheduler and logger hooks of this iteration

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not _agreed_stop():
            return
        path = save_iteration_checkpoint(runner)
        why = _requested or "a stop request on another rank"
        raise RunStopped(f"Stopped by {why} after iteration {runner.iter + 1}; saved {path}.", checkpoint=path)
