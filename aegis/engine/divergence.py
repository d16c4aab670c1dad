"""Divergence caught: a non-finite loss or gradient stops the run before a non-finite state can be saved.

:class:`DivergenceHook` checks every training iteration's loss terms (and the gradient norm, where gradient clipping
logs one). The first non-finite value raises :class:`RunDiverged` naming the iteration, the terms, the learning rate
and the last good checkpoint; ``tools/run.py`` records ``status="diverged"`` in ``result.json`` and exits 1. No
checkpoint is written after it, and a save whose weights are not finite is refused (:func:`check_finite_state`), so
a good checkpoint is never replaced by a NaN one.
"""
from __future__ import annotations

import math
import os.path as osp
from collections.abc import Mapping
from typing import Literal

from mmengine.hooks import Hook

from .stop import RunStopped

__all__ = ["RunDiverged", "DivergenceHook", "check_finite_state", "non_finite_terms"]


class RunDiverged(RunStopped):
    """Training produced a non-finite loss, gradient or weight; the run stops without saving."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="diverged")


def non_finite_terms(values: Mapping) -> dict[str, float]:
    """The entries of ``values`` (numbers or scalar tensors) that are NaN or infinite."""
    bad = {}
    for key, value in values.items():
        number = value.item() if hasattr(value, "item") and getattr(value, "numel", lambda: 1)() == 1 else value
        if isinstance(number, (int, float)) and not math.isfinite(number):
            bad[key] = float(number)
    return bad


def _last_good_checkpoint(work_dir: str) -> str:
    marker = osp.join(work_dir, "last_checkpoint")
    return open(marker).read().strip() if osp.isfile(marker) else "none yet"


def _learning_rate(runner) -> str:
    try:
        return f"{runner.optim_wrapper.get_lr()['lr'][0]:.3g}"
    except Exception:  # noqa: BLE001 (an optim wrapper dict or a custom wrapper: the message goes on without it)
        return "unknown"


class DivergenceHook(Hook):
    """After each training iteration: a NaN or infinite loss term or gradient norm raises :class:`RunDiverged`.

    ``action="skip"`` instead skips every optimizer step whose gradients are not finite (the weights stay as they
    were), counts it (``train/skipped_steps``) and raises only after more than ``max_skips``. Every AEGIS run has one
    (``action="stop"``); set ``custom_hooks=[dict(type="DivergenceHook", action="skip", max_skips=10)]`` to skip.
    """

    priority = "HIGH"  # before the logger and checkpoint hooks of the same iteration

    def __init__(self, action: Literal["stop", "skip"] = "stop", max_skips: int = 10) -> None:
        if action not in ("stop", "skip") or max_skips < 0:
            from aegis.errors import ConfigError
            raise ConfigError(f"DivergenceHook(action={action!r}, max_skips={max_skips}): expected action 'stop' or "
                              "'skip' and max_skips >= 0.")
        self.action, self.max_skips, self.skipped = action, max_skips, 0

    def before_train(self, runner) -> None:
        if self.action != "skip":
            return
        wrapper = runner.optim_wrapper
        step = wrapper.step

        def step_if_finite(**kwargs):
            import torch

            grads = [p.grad for group in wrapper.optimizer.param_groups for p in group["params"] if p.grad is not None]
            if all(torch.isfinite(g).all() for g in grads):
                return step(**kwargs)
            self.skipped += 1
            runner.message_hub.update_scalar("train/skipped_steps", self.skipped)
            runner.logger.warning(f"Skipped the optimizer step of iteration {runner.iter + 1}: its gradients are not "
                                  f"finite ({self.skipped} skipped, at most {self.max_skips}).")
            if self.skipped > self.max_skips:
                raise RunDiverged(f"Diverged: {self.skipped} optimizer steps skipped for non-finite gradients (more "
                                  f"than max_skips={self.max_skips}), the last at iteration {runner.iter + 1}; "
                                  f"learning rate {_learning_rate(runner)}. The last good checkpoint is "
                                  f"{_last_good_checkpoint(runner.work_dir)}.")
            return None

        wrapper.step = step_if_finite  # OptimWrapper.update_params calls self.step: one place for every wrapper

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.action == "skip":  # non-finite steps were not applied
            return
        bad = non_finite_terms(outputs or {})
        grad_norm = runner.message_hub.log_scalars.get("train/grad_norm")  # logged when clip_grad is set
        if grad_norm is not None and not bad:
            bad = non_finite_terms({"grad_norm": grad_norm.current()})
        if bad:
            terms = ", ".join(f"{k}={v}" for k, v in bad.items())
            raise RunDiverged(f"Diverged at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): {terms}; learning "
                              f"rate {_learning_rate(runner)}. Nothing was saved after it; the last good checkpoint is "
                              f"{_last_good_checkpoint(runner.work_dir)}. Lower the learning rate or clip gradients "
                              "(optim_wrapper.clip_grad=dict(max_norm=1.0)).")


def check_finite_state(state_dict: Mapping, where: str) -> None:
    """Refuse to save weights that hold NaN or infinity (raises :class:`RunDiverged` naming the first key)."""
    import torch

    for key, value in state_dict.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise RunDiverged(f"Not saving {where}: weight {key!r} is not finite; the last good checkpoint stays.")
