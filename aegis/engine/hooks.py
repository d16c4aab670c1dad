"""Core hooks and log processing every AEGIS run uses."""
from __future__ import annotations

from collections import OrderedDict

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import LogProcessor

from .metrics_file import write_metrics_json

__all__ = ["MetricsJsonHook", "AegisLogProcessor"]


class MetricsJsonHook(Hook):
    """Write the run's final metrics to ``<work_dir>/metrics.json``.

    After training it records the latest value of every ``train/*`` scalar in the message hub plus ``epoch`` and
    ``iter``; after each validation or test epoch, the evaluator's metrics under ``val/`` or ``test/``. Runs last.
    """

    priority = "LOWEST"

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._write(runner, {f"val/{k}": v for k, v in (metrics or {}).items()})

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._write(runner, {f"test/{k}": v for k, v in (metrics or {}).items()})

    def after_train(self, runner) -> None:
        scalars = {key: buffer.current() for key, buffer in runner.message_hub.log_scalars.items()
                   if key.startswith("train/")}
        scalars.update(epoch=runner.epoch, iter=runner.iter)
        self._write(runner, scalars)

    @staticmethod
    def _write(runner, metrics: dict) -> None:
        if metrics and is_main_process():
            write_metrics_json(runner.work_dir, metrics)


class AegisLogProcessor(LogProcessor):
    """mmengine's LogProcessor whose scalar tags carry the mode, so TensorBoard shows ``train/loss``, ``val/...``."""

    def get_log_after_iter(self, runner, batch_idx: int, mode: str):
        tag, log_str = super().get_log_after_iter(runner, batch_idx, mode)
        return self._prefixed(tag, mode), log_str

    def get_log_after_epoch(self, runner, batch_idx: int, mode: str, with_non_scalar: bool = False):
        tag, log_str = super().get_log_after_epoch(runner, batch_idx, mode, with_non_scalar)
        return self._prefixed(tag, mode), log_str

    @staticmethod
    def _prefixed(tag: dict, mode: str) -> OrderedDict:
        return OrderedDict((k if k.startswith(f"{mode}/") else f"{mode}/{k}", v) for k, v in tag.items())
