"""``result.json`` and ``progress.jsonl``: what one run reports to whoever drives it (a person, a sweep, a W&B agent).

``result.json`` = status (finished / stopped / pruned / failed), the final and best value of every logged metric
with its step, the overrides, a hash of the resolved config, wall time, package versions and the git commit.
``progress.jsonl`` gets one line per validation (and one at the end), so a driver in another process can prune.
Only the main process (rank 0) writes.
"""
from __future__ import annotations

import functools
import json
import math
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from .checkpoint import atomic_write_bytes
from .metrics_file import jsonable, read_metrics_json

__all__ = ["RunResultHook", "MetricHistory", "run_environment", "write_result", "read_result",
           "RESULT_FILE", "PROGRESS_FILE", "metric_mode", "load_scalars"]

RESULT_FILE = "result.json"
PROGRESS_FILE = "progress.jsonl"

_LOWER_IS_BETTER = re.compile(r"loss|err|mse|mae|rmse|perplexity|ppl|wer|cer|distance|lost|collision|nll|kl")
_NOT_A_SCORE = re.compile(r"(^|/)(lr|time|data_time|memory|fps|epoch|iter|iters|grad_norm|total_timesteps"
                          r"|train_seconds)$")
_PACKAGES = ("torch", "mmengine", "numpy", "transformers", "stable-baselines3", "gymnasium", "optuna", "decord", "av")


def metric_mode(key: str) -> str | None:
    """``"min"`` for loss- and error-like keys, ``None`` for bookkeeping (lr, time, iter), else ``"max"``."""
    if _NOT_A_SCORE.search(key):
        return None
    return "min" if _LOWER_IS_BETTER.search(key.lower()) else "max"


class MetricHistory:
    """Every logged scalar's final and best value, each with the step it was logged at."""

    def __init__(self) -> None:
        self.metrics: dict[str, dict[str, Any]] = {}

    def add(self, key: str, value: Any, step: int) -> None:
        if hasattr(value, "item"):
            value = value.item()
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return
        value = float(value)
        entry = self.metrics.setdefault(key, dict(mode=metric_mode(key)))
        entry.update(final=value, final_step=int(step))
        mode, best = entry["mode"], entry.get("best")
        better = (best is None or (math.isfinite(value) and not math.isfinite(best))
                  or (mode == "min" and value < best) or (mode == "max" and value > best))
        if mode is not None and math.isfinite(value) and better:
            entry.update(best=value, best_step=int(step))

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {key: dict(entry) for key, entry in sorted(self.metrics.items())}


class RunResultHook(Hook):
    """Tracks every logged metric for ``result.json``, appends ``progress.jsonl`` after each validation and calls
    ``report(step, metrics)`` there; ``report`` returning True asks the run to stop (status ``pruned``). Draws
    ``curves.png`` at every checkpoint and at the end.

    Training scalars are read where every logger path meets, the visualizer's ``add_scalars`` (mmengine has no hook
    for "a scalar was logged"); validation and test metrics are recorded at the iteration they were computed.
    """

    priority = "LOWEST"

    def __init__(self, report: Callable[[int, dict], Any] | None = None) -> None:
        self.history = MetricHistory()
        self.report = report

    def before_run(self, runner) -> None:
        visualizer = runner.visualizer
        # a visualizer is an mmengine singleton per experiment name: wrap its own method once, never a wrapper
        add_scalars = getattr(visualizer, "_aegis_unwrapped_add_scalars", visualizer.add_scalars)
        visualizer._aegis_unwrapped_add_scalars = add_scalars
        history = self.history

        @functools.wraps(add_scalars)
        def recording_add_scalars(scalar_dict, step=0, file_path=None, **kwargs):
            for key, value in scalar_dict.items():
                if not key.startswith(("val/", "test/")):  # recorded by after_val_epoch at the iteration
                    history.add(key, value, step)
            return add_scalars(scalar_dict, step=step, file_path=file_path, **kwargs)

        visualizer.add_scalars = recording_add_scalars

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._evaluated(runner, "val", metrics or {})

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._evaluated(runner, "test", metrics or {})

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        self.write_curves(runner)

    def write_curves(self, runner) -> None:
        """``<work_dir>/curves.png``: loss terms, learning rate and validation metrics (RL: return, success rate,
        episode length) against the logged step; at each checkpoint and at the end. A plotting failure only warns."""
        if not is_main_process():
            return
        try:
            from aegis.compare import plot_curves
            plot_curves([dict(name=Path(runner.work_dir).name, path=Path(runner.work_dir))],
                        Path(runner.work_dir) / "curves.png", limit=9, extra=("train/lr", "train/ep_length"))
        except Exception as exc:  # noqa: BLE001 (a picture must never stop a run)
            runner.logger.warning(f"curves.png not written: {type(exc).__name__}: {exc}")

    def after_train(self, runner) -> None:
        self.write_curves(runner)
        final = {k: v for k, v in read_metrics_json(runner.work_dir).items() if k not in self.history.metrics}
        for key, value in final.items():
            self.history.add(key, value, runner.iter)
        if is_main_process():
            _append_progress(runner.work_dir, runner.iter, {k: v["final"] for k, v in self.history.metrics.items()},
                             final=True)

    def _evaluated(self, runner, mode: str, metrics: dict) -> None:
        prefixed = {f"{mode}/{k}": v for k, v in metrics.items()}
        for key, value in prefixed.items():
            self.history.add(key, value, runner.iter)
        if not is_main_process():
            return
        _append_progress(runner.work_dir, runner.iter, prefixed)
        if mode == "val" and self.report is not None and self.report(runner.iter, jsonable(prefixed)):
            from .stop import RunStopped
            raise RunStopped(f"Pruned by the report callback at iteration {runner.iter}.", reason="pruned")


def _append_progress(work_dir: str, step: int, metrics: dict, final: bool = False) -> None:
    line = dict(step=int(step), metrics=jsonable(metrics))
    if final:
        line["final"] = True
    with open(Path(work_dir) / PROGRESS_FILE, "a") as handle:
        handle.write(json.dumps(line) + "\n")


@functools.lru_cache(maxsize=1)
def run_environment() -> dict[str, Any]:
    """Python and package versions, and the git commit of the AEGIS checkout (``+dirty`` with local changes)."""
    versions = {"python": platform.python_version()}
    for package in ("aegis",) + _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    root = Path(__file__).resolve().parents[2]
    commit = None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode == 0:
            commit = head.stdout.strip()
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10)
            if dirty.stdout.strip():
                commit += "+dirty"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return dict(versions=versions, git_commit=commit)


def load_scalars(work_dir: str | Path) -> list[dict]:
    """mmengine's logged scalars of a run, one dict per logged line, merged over resumes in time order.

    Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` of every session (timestamp dirs sort chronologically);
    a missing or half-written line is skipped.
    """
    lines = []
    for path in sorted(Path(work_dir).glob("*/vis_data/scalars.json")):
        for line in path.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def write_result(work_dir: str | Path, result: dict) -> Path:
    """Write ``<work_dir>/result.json`` atomically (non-finite floats become strings, as in metrics.json)."""
    path = Path(work_dir) / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes((json.dumps(jsonable(result), indent=2, sort_keys=True) + "\n").encode(), path)
    return path


def read_result(work_dir: str | Path) -> dict | None:
    """The run's ``result.json``, or None when it has none yet."""
    path = Path(work_dir) / RESULT_FILE
    return json.loads(path.read_text()) if path.is_file() else None
