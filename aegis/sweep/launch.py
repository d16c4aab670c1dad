"""Start a sweep: validate every point, write ``sweep.json``, then run workers here or as a Slurm job array.

``sweeps/<name>/`` holds ``sweep.json`` (what the report reads), ``study.db`` (the default SQLite storage),
``trials/<run name>/`` (one work dir per run), ``upstream/`` (runs that trials depend on) and ``slurm/`` (submitit).
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from ..engine.checkpoint import atomic_write_text
from ..errors import AegisError, ConfigError
from .space import SweepSpec, validation_points
from .study import GRACE_PERIOD_S, open_storage, open_study

__all__ = ["validate_points", "write_sweep_json", "run_local", "run_worker", "make_slurm_executor", "submit_slurm",
           "SWEEP_FILE"]

SWEEP_FILE = "sweep.json"


def _check():
    try:
        from ..api import check
    except ImportError:  # before aegis.api existed: the same two steps
        def check(experiment, overrides):
            from .. import plugins
            from ..build import validate
            from ..config import load_experiment

            plugins.load()
            cfg = load_experiment(experiment, dict(overrides))
            validate(cfg)
            return cfg
    return check


def validate_points(spec: SweepSpec, out=None) -> int:
    """Check every point (see :func:`~aegis.sweep.space.validation_points`) of every experiment; returns how many.

    The first bad point raises its :class:`ConfigError`, prefixed with the point.
    """
    if not spec.experiments:
        raise ConfigError("No experiment: give --experiment FILE, experiment='...' in the sweep file, "
                          "or list files under space['experiment'].")
    if not spec.metric:
        raise ConfigError("No metric: give --metric KEY (a key of result.json's metrics, e.g. val/mse) "
                          "or metric='...' in the sweep file.")
    check = _check()
    for experiment in spec.experiments:
        _check_swept_keys(spec, experiment, check)
    seed = spec.seeds[0] if spec.seeds else None
    points = validation_points(spec)
    for point in points:
        experiment, overrides = spec.overrides(point, seed)
        try:
            check(experiment, overrides)
        except AegisError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
            raise type(exc)(f"sweep point ({shown}): {exc}") from exc
    if out is not None:
        print(f"Validated {len(points)} point(s) of {len(spec.experiments)} experiment(s).", file=out)
    return len(points)


def _all_keys(node, prefix: str = "") -> list[str]:
    keys = []
    items = node.items() if hasattr(node, "items") else enumerate(node) if isinstance(node, (list, tuple)) else []
    for key, value in items:
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        keys += _all_keys(value, dotted + ".")
    return keys


def _check_swept_keys(spec: SweepSpec, experiment: str, check) -> None:
    """A swept key must already be set in the experiment, so a misspelt key cannot add a new, unused one.

    (``check`` catches unknown arguments of registered components, but not, e.g., of the optimizer.)
    """
    import difflib

    cfg = check(experiment, {})
    for key in spec.space:
        if key == "experiment":
            continue
        target, known_in, name = key, cfg, experiment
        upstream = re.match(r"upstream\.(\w+)\.overrides\.(.+)$", key)
        if upstream and upstream.group(1) in (cfg.get("upstream") or {}):  # a key of the upstream's own experiment
            name = cfg.upstream[upstream.group(1)]["experiment"]
            target, known_in = upstream.group(2), check(name, {})
        known = set(_all_keys(known_in))
        if target not in known:
            near = difflib.get_close_matches(target, sorted(known), n=3, cutoff=0.6)
            raise ConfigError(f"sweep key {key!r}: {target!r} is not set in {name}."
                              + (f" Did you mean {', '.join(repr(n) for n in near)}?" if near else "")
                              + " A swept key must already have a value in the experiment (set a default there).")


def write_sweep_json(spec: SweepSpec, sweep_dir: Path, storage: str) -> Path:
    """``<sweep_dir>/sweep.json``: name, storage, experiment(s), metric, direction, space, seeds, cfg_options,
    sampler and pruner, for ``aegis sweep report`` and anyone who finds the dir."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    data = {"name": spec.name, "storage": storage, "experiments": spec.experiments, "trials": spec.trials,
            **spec.definition()}
    path = sweep_dir / SWEEP_FILE
    atomic_write_text(json.dumps(data, indent=2) + "\n", path)
    return path


def run_worker(spec_data: dict, storage: str, sweep_dir: str, parallel: int = 1, cwd: str | None = None,
               grace_s: float = GRACE_PERIOD_S, pruner_startup_trials: int = 2) -> dict[str, int]:
    """One worker (``parallel`` threads) against the shared storage until nothing is left; the function that a
    Slurm array task runs. Returns the study's counts by state."""
    import optuna

    from .worker import SweepWorker

    if cwd:
        os.chdir(cwd)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = SweepSpec.from_dict(spec_data)
    study = open_study(spec, open_storage(storage), pruner_startup_trials)
    worker = SweepWorker(study, spec, Path(sweep_dir), parallel=parallel, grace_s=grace_s)
    return worker.run()


def run_local(spec: SweepSpec, sweep_dir: Path, storage: str, parallel: int = 1, grace_s: float = GRACE_PERIOD_S,
              pruner_startup_trials: int = 2, out=None) -> tuple[dict[str, int], bool]:
    """Run a worker in this process; SIGTERM stops it cleanly (trials save a checkpoint and are queued again).

    Returns the counts by state and whether the sweep was stopped before the end.
    """
    import signal
    import threading

    import optuna

    from .worker import SweepWorker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(spec, open_storage(storage), pruner_startup_trials)
    worker = SweepWorker(study, spec, sweep_dir, parallel=parallel, grace_s=grace_s, out=out or sys.stdout)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    try:
        result = worker.run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if worker.last_status != worker.status_line():
        print(worker.status_line(), file=worker.out, flush=True)
    return result, worker.stop.is_set()


def make_slurm_executor(sweep_dir: Path, workers: int, timeout_min: int = 60, gpus_per_node: int = 0,
                        cpus_per_task: int | None = None, partition: str | None = None, cluster: str | None = None,
                        extra: dict[str, Any] | None = None):
    """A submitit ``AutoExecutor`` (folder ``<sweep_dir>/slurm``) set up for ``workers`` array tasks at once.

    ``cluster="local"`` or ``"debug"`` gives submitit's local executors (tests, a machine without Slurm).
    """
    try:
        import submitit
    except ImportError as exc:
        from ..errors import MissingDependencyError
        raise MissingDependencyError("--executor slurm needs submitit: pip install 'aegis[slurm]'.") from exc
    try:
        executor = submitit.AutoExecutor(folder=str(sweep_dir / "slurm"), cluster=cluster)
    except RuntimeError as exc:  # submitit's "Could not detect srun"
        raise ConfigError(f"--executor slurm: {exc} (submitit found no Slurm on this machine; run "
                          "`aegis sweep` without --executor slurm on each machine instead, see docs/sweeps.md).") from exc
    params: dict[str, Any] = dict(timeout_min=timeout_min, slurm_array_parallelism=workers, name=f"sweep-{sweep_dir.name}")
    if gpus_per_node:
        params["gpus_per_node"] = gpus_per_node
    if cpus_per_task:
        params["cpus_per_task"] = cpus_per_task
    if partition:
        params["slurm_partition"] = partition
    params.update(extra or {})
    if executor.cluster != "slurm":
        params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
    executor.update_parameters(**params)
    return executor


def submit_slurm(spec: SweepSpec, sweep_dir: Path, storage: str, workers: int, parallel: int = 1, executor=None,
                 **executor_options):
    """Submit ``workers`` copies of :func:`run_worker` as one job array; returns the submitit jobs.

    The storage must be shared by every node: a journal file on a shared disk or a database URL; SQLite (the
    default) is refused, since SQLite's locking is unreliable on NFS.
    """
    if storage.startswith("sqlite:"):
        raise ConfigError(f"--executor slurm: the storage {storage!r} is SQLite, whose locking is unreliable on the "
                          "network file systems that cluster nodes share. Use --storage sweeps/<name>/study.journal "
                          "(a journal file on a shared disk) or a database URL (postgresql://...).")
    executor = executor or make_slurm_executor(sweep_dir, workers, **executor_options)
    n = workers
    return executor.map_array(run_worker, [spec.to_dict()] * n, [storage] * n, [str(sweep_dir)] * n, [parallel] * n,
                              [os.getcwd()] * n)
