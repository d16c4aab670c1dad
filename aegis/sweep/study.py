"""The Optuna side of a sweep: storage, sampler, pruner, study creation, stale-trial recovery, duplicate detection.

Everything here is Optuna's public API (storages, samplers, pruners, ``RetryHeartbeatStaleTrialCallback``, ask/tell)
plus the few user attrs AEGIS adds to a trial:

- ``worker`` (``host:pid``), ``worker_trial`` (the trial's own number, since a retried copy inherits the attrs of
  the trial it replaces) and ``heartbeat`` (unix time, refreshed every :data:`HEARTBEAT_INTERVAL_S` while the
  trial runs), from which another worker tells that the trial's worker died,
- ``interrupted`` (True on a trial whose worker died; a WAITING copy with the same params replaces it),
- ``duplicate`` (True on a trial the sampler handed out for a point another trial already has; it never runs),
- ``runs`` (one dict per seed run: seed, status, value, exit_code, wall_time_s, work_dir, log), ``exit_code``, ``log``.
"""
from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .space import SweepSpec

__all__ = ["HEARTBEAT_INTERVAL_S", "GRACE_PERIOD_S", "DEFINITION_ATTR", "default_storage", "open_storage",
           "make_sampler", "make_pruner", "open_study", "worker_id", "recover_stale_trials", "work_left",
           "duplicate_reason", "tell", "counts"]

HEARTBEAT_INTERVAL_S = 10.0
GRACE_PERIOD_S = 120.0  # a RUNNING trial whose heartbeat is older than this is stale, whatever its host
DEFINITION_ATTR = "aegis_sweep"


def default_storage(sweep_dir: Path) -> str:
    """SQLite in ``<sweep_dir>/study.db`` (one machine; for many machines use a journal file or a DB URL)."""
    return f"sqlite:///{(Path(sweep_dir) / 'study.db').resolve()}"


def open_storage(storage: str):
    """An Optuna storage for a URL (``sqlite:///...``, ``postgresql://...``) or a ``*.log``/``*.journal`` path."""
    import optuna

    if "://" in storage:
        if storage.startswith("sqlite:"):  # wait for the lock instead of failing when workers write at once
            return optuna.storages.RDBStorage(storage, engine_kwargs={"connect_args": {"timeout": 60}})
        return optuna.storages.RDBStorage(storage)
    if Path(storage).suffix in (".log", ".journal"):
        from optuna.storages.journal import JournalFileBackend

        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(storage)))
    raise ConfigError(f"--storage {storage!r}: expected a database URL (sqlite:///sweeps/x/study.db, "
                      "postgresql://user@host/db) or a journal file path ending in .log or .journal.")


def make_sampler(spec: SweepSpec):
    """Optuna's GridSampler, RandomSampler or TPESampler for the spec's space."""
    import optuna

    if spec.sampler == "grid":
        ranges = [k for k, d in spec.space.items() if not d.categorical]
        if ranges:
            raise ConfigError(f"sampler='grid' needs listed values, but {', '.join(ranges)} "
                              f"{'is a range' if len(ranges) == 1 else 'are ranges'}; use grid=[...] values "
                              "or --sampler random|tpe.")
        if not spec.space:
            raise ConfigError("The sweep has an empty space: give --grid KEY=V1,V2 or a sweep file with space=dict(...).")
        return optuna.samplers.GridSampler({k: d.encoded() for k, d in spec.space.items()}, seed=0)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler()
    if spec.sampler == "tpe":
        return optuna.samplers.TPESampler()
    raise ConfigError(f"--sampler {spec.sampler!r}: expected grid, random or tpe.")


def make_pruner(kind: str, startup_trials: int = 2):
    """Optuna's NopPruner, MedianPruner or SuccessiveHalvingPruner."""
    import optuna

    if kind == "none":
        return optuna.pruners.NopPruner()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=0)
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    raise ConfigError(f"--pruner {kind!r}: expected none, median or halving.")


def open_study(spec: SweepSpec, storage, pruner_startup_trials: int = 2):
    """Create the sweep's study or join it; a different definition under the same name is a :class:`ConfigError`."""
    import optuna

    kwargs = dict(study_name=spec.name, storage=storage, sampler=make_sampler(spec),
                  pruner=make_pruner(spec.pruner, pruner_startup_trials))
    try:
        study = optuna.create_study(direction=spec.direction, load_if_exists=True, **kwargs)
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it between our check and our insert
        study = optuna.load_study(**kwargs)
    wanted = spec.definition()
    stored = study.user_attrs.get(DEFINITION_ATTR)
    if stored is None:
        study.set_user_attr(DEFINITION_ATTR, wanted)
    elif stored != wanted:
        diff = [f"{k}: stored {json.dumps(stored.get(k))} vs now {json.dumps(wanted.get(k))}"
                for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]
        raise ConfigError(f"Sweep {spec.name!r} already exists in its storage with another definition ("
                          + "; ".join(diff) + "). Use another --name, or the same space and options to resume it.")
    return study


def worker_id() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(frozen, now: float, grace_s: float) -> bool:
    started = frozen.datetime_start.timestamp() if frozen.datetime_start else now
    if frozen.user_attrs.get("worker_trial") != frozen.number:  # attrs not yet set, or inherited by a retry copy
        return now - started > grace_s
    worker = str(frozen.user_attrs.get("worker") or "")
    if worker == worker_id():
        return False
    host, _, pid = worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
        return True
    return now - float(frozen.user_attrs.get("heartbeat") or started) > grace_s


def recover_stale_trials(study, grace_s: float = GRACE_PERIOD_S) -> list[int]:
    """Mark RUNNING trials of dead workers FAIL (user attr ``interrupted``) and queue a WAITING copy of each.

    The copy comes from Optuna's ``RetryHeartbeatStaleTrialCallback`` (same params and system attrs, so the same
    grid point and trial dir); the next ``study.ask()`` pops it and the trial continues from its checkpoint.
    Returns the numbers of the recovered trials. Two workers recovering one trial at once: only the first FAIL
    succeeds, the other skips it.
    """
    import optuna
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback()
    recovered, now = [], time.time()
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _is_stale(frozen, now, grace_s):
            continue
        try:
            study._storage.set_trial_user_attr(frozen._trial_id, "interrupted", True)
            tell(study, frozen.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # finished meanwhile, or another worker recovered it first
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry(study, study._storage.get_trial(frozen._trial_id))
        recovered.append(frozen.number)
    return recovered


def _kept(frozen) -> bool:
    return not (frozen.user_attrs.get("interrupted") or frozen.user_attrs.get("duplicate"))


def _original(frozen) -> bool:  # a point the sampler chose (not a retry copy, not a duplicate): counts in the budget
    return not frozen.user_attrs.get("duplicate") and "failed_trial" not in frozen.system_attrs


def _point_key(frozen) -> Any:
    grid_id = frozen.system_attrs.get("grid_id")
    return ("grid", grid_id) if grid_id is not None else ("params", json.dumps(frozen.params, sort_keys=True))


def work_left(study, spec: SweepSpec) -> bool:
    """Whether asking for a trial can give one worth running: a WAITING trial, or an unused point of the budget."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return True
    originals = [t for t in trials if _original(t)]
    budget = _budget(spec)
    if budget is not None and len(originals) >= budget:
        return False
    if spec.sampler == "grid":
        used = {t.system_attrs.get("grid_id") for t in trials if t.state.is_finished() or t.state == TrialState.RUNNING}
        return len(used - {None}) < spec.grid_size
    return True


def _budget(spec: SweepSpec) -> int | None:
    if spec.sampler == "grid":
        return min(spec.trials or spec.grid_size, spec.grid_size)
    return spec.trials


def duplicate_reason(study, trial, spec: SweepSpec) -> str | None:
    """Why a just-asked trial must not run (a point another trial holds, or past the budget), else None.

    The owner of a point is its lowest-numbered kept trial, so two workers that raced to the same point agree on
    which one runs it.
    """
    trials = study.get_trials(deepcopy=False)
    me = next(t for t in trials if t.number == trial.number)
    key = _point_key(me)
    if spec.sampler == "grid" or "failed_trial" in me.system_attrs:
        holders = [t.number for t in trials if _kept(t) and _point_key(t) == key and not t.state.name == "WAITING"]
        if holders and min(holders) != me.number:
            return f"point already held by trial {min(holders)}"
    budget = _budget(spec)
    if budget is not None and "failed_trial" not in me.system_attrs:
        earlier = [t for t in trials if _original(t) and t.number < me.number]
        if len(earlier) >= budget:
            return f"budget of {budget} trials already used"
    return None


def tell(study, trial, value: float | None = None, state=None) -> None:
    """``study.tell`` that ignores GridSampler's ``study.stop()`` outside ``optimize`` (the state is stored first)."""
    try:
        study.tell(trial, value, state=state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def counts(study) -> dict[str, int]:
    """Kept trials by state: complete, pruned, failed, running (interrupted and duplicate ones left out)."""
    names = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
             "WAITING": "waiting"}
    result = dict.fromkeys(names.values(), 0)
    for frozen in study.get_trials(deepcopy=False):
        if _kept(frozen):
            result[names[frozen.state.name]] += 1
    return result
