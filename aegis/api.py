"""One run as a function: what ``tools/run.py`` does, for in-process drivers (Optuna, Ray Tune, Hydra) and tools.

``train(experiment, overrides=..., work_dir=..., report=callback)`` loads and validates the experiment, trains it
and returns the run's result (the same dict as ``<work_dir>/result.json``); ``report(step, metrics)`` is called after
every validation and may return True to stop the run there (status ``pruned``). ``check`` validates without running.

Exit statuses of ``tools/run.py`` (``EXIT_*``): 0 finished, 1 crashed, 2 configuration error (before anything heavy
ran), 3 stopped by SIGTERM or SIGINT with a checkpoint saved (``--resume`` continues it).
"""
from __future__ import annotations

import os
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


__all__ = ["train", "check", "run_experiment", "validate_before_upstream", "upstream_error", "EXIT_FINISHED", "EXIT_CRASHED", "EXIT_CONFIG_ERROR",
           "EXIT_STOPPED", "STATUS_EXIT_CODES"]

EXIT_FINISHED, EXIT_CRASHED, EXIT_CONFIG_ERROR, EXIT_STOPPED = 0, 1, 2, 3
STATUS_EXIT_CODES = {"finished": EXIT_FINISHED, "failed": EXIT_CRASHED, "diverged": EXIT_CRASHED,
                     "stopped": EXIT_STOPPED, "pruned": EXIT_STOPPED}


def check(experiment: str | os.PathLike, overrides: Mapping[str, Any] | None = None, work_dir: str | None = None):
    """Load ``experiment`` with ``overrides`` and validate every component; returns the config or raises
    :class:`~aegis.errors.ConfigError` naming the key, the value and the closest valid choice."""
    from . import plugins
    from .build import validate
    from .config import load_experiment

    plugins.load()
    cfg = load_experiment(experiment, dict(overrides or {}), work_dir)
    validate(cfg)
    return cfg


def train(experiment: str | os.PathLike, overrides: Mapping[str, Any] | None = None, work_dir: str | None = None,
          report: Callable[[int, dict], Any] | None = None, resume: bool = False, seed: int | None = None,
          amp: bool = False, deterministic: bool = False, with_upstream: bool = False,
          upstream_root: str = "work_dirs") -> dict:
    """Train ``experiment`` in this process and return its result dict (also written to ``result.json``).

    A configuration error raises :class:`~aegis.errors.ConfigError` before anything heavy runs; a crash in training
    is re-raised after ``result.json`` records ``status="failed"``; a non-finite loss returns ``status="diverged"``;
    a stop (SIGTERM, or ``report`` returning True)
    returns with ``status`` ``"stopped"`` or ``"pruned"``. Runs named in the experiment's ``upstream`` are built
    first with ``with_upstream`` (under ``upstream_root``), else their absence is a ConfigError naming the command.
    """
    from . import plugins
    from .config import load_experiment

    from .upstream import build_upstream, missing_upstream

    plugins.load()
    cfg = load_experiment(experiment, dict(overrides or {}), work_dir, upstream_root=upstream_root)
    validate_before_upstream(cfg, upstream_root)
    if missing_upstream(cfg):
        if not with_upstream:
            raise upstream_error(cfg, upstream_root)
        build_upstream(cfg, upstream_root)
    if work_dir:
        cfg._work_dir_given = True
    if not cfg.get("experiment_name"):  # mmengine names its per-run singletons by second: several runs per process
        cfg.experiment_name = f"{Path(experiment).stem}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
    result, error = run_experiment(cfg, experiment=str(experiment), overrides=dict(overrides or {}),
                                   resume="auto" if resume else None, seed=seed, amp=amp,
                                   deterministic=deterministic, report=report)
    if error is not None:
        raise error
    return result


def upstream_error(cfg, upstream_root: str):
    """The missing-upstream :class:`ConfigError`, saying where a relative upstream root was looked for."""
    from .errors import ConfigError, relative_path_note
    from .upstream import missing_upstream, missing_upstream_error

    error = missing_upstream_error(cfg, upstream_root)
    entry = cfg.upstream[missing_upstream(cfg)[0]]
    note = relative_path_note(entry["work_dir"], near=entry["experiment"])
    return ConfigError(f"{error}\n {note}") if note else error


def validate_before_upstream(cfg, upstream_root: str) -> None:
    """Validate every component before upstream runs are looked at: a typo is reported before minutes of building
    upstream runs. A missing file that a missing upstream run writes is reported as that run missing."""
    from .build import validate
    from .errors import ConfigError
    from .upstream import missing_upstream

    try:
        validate(cfg)
    except ConfigError as exc:
        missing = [str(cfg.upstream[name]["work_dir"]) for name in missing_upstream(cfg)]
        if any(work_dir in str(exc) for work_dir in missing):
            raise upstream_error(cfg, upstream_root) from None
        raise


def run_experiment(cfg, *, experiment: str, overrides: dict, resume: str | None = None, launcher: str = "none",
                   amp: bool = False, seed: int | None = None, deterministic: bool = False,
                   dry_run: bool = False, report: Callable | None = None) -> tuple[dict | None, BaseException | None]:
    """Apply the run options, validate, train, and write ``result.json``. Returns (result, error to re-raise).

    Configuration errors propagate (nothing was written); a dry run returns (None, None).
    """
    from .run_setup import apply_run_options, run, threads_of

    apply_run_options(cfg, resume=resume, launcher=launcher, amp=amp, seed=seed, deterministic=deterministic)
    if dry_run:
        run(cfg, dry_run=True)
        return None, None
    cfg.pop("_work_dir_given", None)
    with threads_of(cfg):  # the experiment's compute_threads while it trains
        return _train(cfg, experiment, overrides, dict(resume=resume, launcher=launcher, amp=amp, seed=seed,
                                                       deterministic=deterministic), report)


def _train(cfg, experiment: str, overrides: dict, options: dict, report: Callable | None):
    """Build the runner, train, and write ``result.json``: :func:`run_experiment` without the dry run."""
    from .engine.stop import RunStopped, install_stop_handlers, restore_stop_handlers
    from .run_setup import build_runner, log_threads

    start = time.time()
    runner = build_runner(cfg)  # validates first: a ConfigError leaves before any work dir content
    log_threads(runner, cfg)
    runner.result_hook.report = report
    _write_resolved_config(cfg)
    previous = install_stop_handlers()
    status, error, message = "finished", None, None
    try:
        runner.train()
    except RunStopped as exc:
        status, message = exc.reason, str(exc)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 (recorded in result.json, then re-raised)
        status, error = "failed", exc
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        restore_stop_handlers(previous)
        from .engine.progress import close_all
        close_all()  # a crashed or stopped run takes its bar down before the closing lines
    result = _result(cfg, runner, experiment, overrides, options, status, message, time.time() - start)
    if _is_main_process():
        from .engine.result import write_result
        write_result(cfg.work_dir, result)
    return result, error


def _is_main_process() -> bool:
    from mmengine.dist import is_main_process
    return is_main_process()


def _write_resolved_config(cfg) -> None:
    from .secrets import redact

    if _is_main_process():
        os.makedirs(cfg.work_dir, exist_ok=True)
        redact(cfg).dump(os.path.join(cfg.work_dir, "config.py"))


def _result(cfg, runner, experiment: str, overrides: dict, options: dict, status: str, message: str | None,
            seconds: float) -> dict:
    from .config import config_hash
    from .engine.result import run_environment

    history = runner.result_hook.history
    if status != "finished":  # metrics a tool wrote (RL evaluation, probe) arrive through after_train otherwise
        from .engine import read_metrics_json
        for key, value in read_metrics_json(cfg.work_dir).items():
            if key not in history.metrics:
                history.add(key, value, getattr(runner, "iter", 0))
    from .secrets import redact, redact_text, secret_values

    environment, secrets = run_environment(), secret_values(cfg)
    message = redact_text(message, secrets) if message else message
    overrides = redact(overrides, secrets)
    return dict(status=status, exit_code=STATUS_EXIT_CODES[status], experiment=experiment, work_dir=cfg.work_dir,
                overrides=overrides, options=options, config_hash=config_hash(cfg), metrics=history.as_dict(),
                wall_time_s=round(seconds, 3), error=message if status in ("failed", "diverged") else None,
                message=message, versions=environment["versions"], git_commit=environment["git_commit"])
