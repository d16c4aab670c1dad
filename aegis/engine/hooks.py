"""Core hooks and log processing every AEGIS run uses: metrics.json, mode-prefixed log tags, the live progress bar."""
from __future__ import annotations

from collections import OrderedDict

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import LogProcessor

from .metrics_file import write_metrics_json

__all__ = ["MetricsJsonHook", "AegisLogProcessor", "ProgressHook"]


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


class ProgressHook(Hook):
    """A live progress bar for training, validation and test on a terminal (see :mod:`aegis.engine.progress`).

    Training draws one line over the run's iterations (``max_iters``; epoch-based loops too, with ``epoch e/E`` as
    its description), with elapsed time, the time left, the current value of each loss term the model logs and the
    last validation metrics; a validation or test pass draws a second line over its batches, removed when the pass
    ends. Without a terminal (pipes, files, CI, Slurm, sweep trials), on ranks other than 0, with ``enabled=False``
    or ``AEGIS_PROGRESS=0`` it does nothing: the output is the ordinary periodic log lines alone. Log lines printed
    while the bar is up appear above it. The bar is updated at most ``refresh_per_second`` times a second.
    """

    priority = "LOW"  # after RuntimeInfoHook has put this iteration's losses into the message hub

    def __init__(self, enabled: bool = True, refresh_per_second: float = 4.0, max_terms: int = 6) -> None:
        self.enabled, self.refresh_per_second, self.max_terms = enabled, refresh_per_second, max_terms
        self._train = None  # ProgressBar of the training loop (opened at its first iteration)
        self._eval = None  # ProgressBar of a validation or test pass
        self._runner = None
        self._terms: dict = {}  # the latest iteration's outputs: their keys name the loss terms
        self._val_metrics: dict = {}

    def _may_draw(self) -> bool:
        return self.enabled and is_main_process()

    # --- training ----------------------------------------------------------------------------------------------
    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._train is None and self._may_draw():  # lazily: an RL loop calls before_train but no iteration hooks
            from .progress import ProgressBar

            self._runner = runner
            loop = runner.train_loop
            self._train = ProgressBar(getattr(loop, "max_iters", None), self._description(runner), unit="iters",
                                      completed=runner.iter, status=self._train_status,
                                      refresh_per_second=self.refresh_per_second)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._train is not None:
            if outputs:
                self._terms = outputs
            self._train.update(runner.iter + 1)

    def before_train_epoch(self, runner) -> None:
        if self._train is not None:
            self._train.update(description=self._description(runner))

    def after_train(self, runner) -> None:
        if self._train is not None:
            self._train.update(runner.iter, description=self._description(runner, done=True))
            self._train.close()
            self._train = None

    @staticmethod
    def _description(runner, done: bool = False) -> str:
        from mmengine.runner import EpochBasedTrainLoop

        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            epoch = runner.epoch if done else min(runner.epoch + 1, loop.max_epochs)
            return f"epoch {epoch}/{loop.max_epochs}"
        return "train"

    def _train_status(self) -> str:
        """The current loss terms and the last validation metrics, e.g. ``loss 0.512 loss_jepa 0.49 | val mse 1.29``."""
        scalars = self._runner.message_hub.log_scalars
        parts = []
        for key in list(self._terms)[:self.max_terms]:
            buffer = scalars.get(f"train/{key}")
            if buffer is not None and len(buffer.data[0]):
                parts.append(f"{key} {buffer.current():.4g}")
        text = " ".join(parts)
        if self._val_metrics:
            shown = [f"{k} {v:.4g}" for k, v in self._val_metrics.items() if isinstance(v, (int, float))]
            text += (" | " if text else "") + "val " + " ".join(shown[:3])
        return text

    # --- validation and test -----------------------------------------------------------------------------------
    def before_val_epoch(self, runner) -> None:
        self._open_eval(runner, "val", runner.val_loop)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._eval is not None:
            self._eval.advance()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._val_metrics = dict(metrics or {})
        self._close_eval()
        if self._train is not None:
            self._train.update(refresh=True)

    def before_test_epoch(self, runner) -> None:
        self._open_eval(runner, "test", runner.test_loop)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._eval is not None:
            self._eval.advance()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._close_eval()

    def _open_eval(self, runner, mode: str, loop) -> None:
        self._close_eval()
        if not self._may_draw():
            return
        from .progress import ProgressBar

        try:
            total = len(loop.dataloader)
        except (AttributeError, TypeError):  # an iterable without a length: an indeterminate bar
            total = None
        self._eval = ProgressBar(total, mode, unit="batches", transient=True,
                                 refresh_per_second=self.refresh_per_second)

    def _close_eval(self) -> None:
        if self._eval is not None:
            self._eval.close()
            self._eval = None

    def after_run(self, runner) -> None:  # a loop that ended without its after_train/after_*_epoch calls
        self._close_eval()
        if self._train is not None:
            self._train.close()
            self._train = None
