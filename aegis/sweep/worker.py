"""The worker loop of a sweep: ask Optuna for a point, run it as ``tools/run.py`` subprocesses, prune, tell.

One trial is one point of the space; with seeds it runs once per seed, one after the other, and its value is the
mean over seeds. Pruning follows the first seed's ``progress.jsonl``. Each run has its own work dir named by its
overrides under ``<sweep_dir>/trials/`` and always starts with ``--resume``, so a trial that a dead worker left
behind continues from its last checkpoint. ``--parallel P`` runs P threads, each driving one subprocess at a time.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .space import SweepSpec, trial_dir_name
from .study import (GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S, counts, duplicate_reason, recover_stale_trials, tell,
                    work_left, worker_id)

__all__ = ["SweepWorker", "run_command", "trial_env", "POLL_S", "MAX_RETRIES"]

POLL_S = 0.3
MAX_RETRIES = 3  # a trial stopped from outside (exit 3) this often in a row is recorded as failed
_REPO = Path(__file__).resolve().parents[2]


def run_command(experiment: str, overrides: dict[str, Any], work_dir: Path, upstream_root: Path) -> list[str]:
    """The ``tools/run.py`` command line of one run (``python -m aegis.cli run`` when tools/ is not there)."""
    from ..overrides import format_value

    tool = _REPO / "tools" / "run.py"
    head = [sys.executable, str(tool)] if tool.is_file() else [sys.executable, "-m", "aegis.cli", "run"]
    command = [*head, str(experiment), "--work-dir", str(work_dir), "--resume", "--with-upstream",
               "--upstream-root", str(upstream_root)]
    if overrides:
        command += ["--cfg-options", *(f"{k}={format_value(v)}" for k, v in overrides.items())]
    return command


def trial_env(parallel: int) -> dict[str, str]:
    """The environment of a trial: this one, with OMP/MKL threads = the thread budget // parallel (at least 1).

    The budget is the sweep's own ``OMP_NUM_THREADS`` when set (a sweep started with 4 threads gives 2 trials 2 each),
    else the cpu count."""
    budget = int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
    threads = str(max(1, budget // max(1, parallel)))
    return dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)


def _die_with_parent() -> None:  # runs in the child between fork and exec: a dead sweep stops its trials (Linux)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class _Run:
    seed: int | None
    status: str = "failed"  # finished | failed | pruned | interrupted
    value: float | None = None
    exit_code: int | None = None
    wall_time_s: float = 0.0
    work_dir: str = ""
    log: str = ""
    error: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Progress:
    path: Path
    offset: int = 0
    steps: set = field(default_factory=set)

    def new_points(self, metric: str) -> list[tuple[int, float]]:
        """Complete new lines of ``progress.jsonl`` that carry ``metric``, as (step, value)."""
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        points = []
        for line in data[:end].splitlines():
            try:
                entry = json.loads(line)
                value, step = entry["metrics"][metric], int(entry["step"])
            except (ValueError, KeyError, TypeError):
                continue
            if step not in self.steps and isinstance(value, (int, float)):
                self.steps.add(step)
                points.append((step, float(value)))
        return points


class SweepWorker:
    """Runs trials of one study until nothing is left; ``run(parallel)`` drives ``parallel`` threads."""

    def __init__(self, study, spec: SweepSpec, sweep_dir: Path, parallel: int = 1,
                 grace_s: float = GRACE_PERIOD_S, out=None) -> None:
        self.study, self.spec, self.sweep_dir = study, spec, Path(sweep_dir).resolve()
        self.parallel, self.grace_s, self.out = max(1, parallel), grace_s, out or sys.stdout
        self.stop = threading.Event()
        self._ask_lock, self._print_lock = threading.Lock(), threading.Lock()
        self._distributions = {k: d.distribution() for k, d in spec.space.items()}
        self._durations: list[float] = []
        self.last_status = ""

    # --- the loop -------------------------------------------------------------------------------------------------
    def run(self) -> dict[str, int]:
        """Run until no work is left (or :attr:`stop` is set); returns the study's counts by state."""
        threads = [threading.Thread(target=self._loop, name=f"sweep-worker-{i}", daemon=True)
                   for i in range(self.parallel)]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=0.5)
        except KeyboardInterrupt:
            self.stop.set()
            for thread in threads:
                thread.join()
        return counts(self.study)

    def _loop(self) -> None:
        duplicates = 0
        while not self.stop.is_set() and duplicates < 20:
            with self._ask_lock:
                recover_stale_trials(self.study, self.grace_s)
                if not work_left(self.study, self.spec):
                    return
                trial = self.study.ask(self._distributions)
                for key, value in (("worker", worker_id()), ("worker_trial", trial.number),
                                   ("heartbeat", time.time()), ("interrupted", False), ("runs", [])):
                    trial.set_user_attr(key, value)
                reason = duplicate_reason(self.study, trial, self.spec)
            if reason:
                duplicates += 1
                trial.set_user_attr("duplicate", True)
                trial.set_user_attr("duplicate_reason", reason)
                from optuna.trial import TrialState
                tell(self.study, trial, state=TrialState.FAIL)
                continue
            duplicates = 0
            try:
                self._run_trial(trial)
            except Exception as exc:  # a bug here must not leave the trial RUNNING for the rest of the sweep
                import traceback

                from optuna.trial import TrialState
                traceback.print_exc()
                trial.set_user_attr("error", f"sweep worker: {type(exc).__name__}: {exc}")
                tell(self.study, trial, state=TrialState.FAIL)

    # --- one trial ------------------------------------------------------------------------------------------------
    def _point(self, trial) -> dict[str, Any]:
        return {k: d.decode(trial.params[k]) for k, d in self.spec.space.items()}

    def _run_trial(self, trial) -> None:
        from optuna.trial import TrialState

        start, point = time.time(), self._point(trial)
        runs: list[_Run] = []
        for index, seed in enumerate(self.spec.seeds or [None]):
            run = self._run_one(trial, point, seed, prune=index == 0 and self.spec.pruner != "none")
            runs.append(run)
            trial.set_user_attr("runs", [r.as_dict() for r in runs])
            if run.status != "finished":
                break
        last = runs[-1]
        trial.set_user_attr("exit_code", last.exit_code)
        trial.set_user_attr("log", last.log)
        if last.error:
            trial.set_user_attr("error", last.error[-2000:])
        value, interrupted = None, False
        if last.status == "pruned":
            state = TrialState.PRUNED
        elif last.status == "interrupted":  # queued again unless something keeps stopping it from outside
            state = TrialState.FAIL
            system_attrs = self.study._storage.get_trial(trial._trial_id).system_attrs
            retries = len(system_attrs.get("retry_history", []))
            interrupted = self.stop.is_set() or retries < MAX_RETRIES
            trial.set_user_attr("interrupted", interrupted)
        elif last.status == "failed":
            state = TrialState.FAIL
        else:
            state, value = TrialState.COMPLETE, statistics.fmean(r.value for r in runs)
        tell(self.study, trial, value, state=state)
        if interrupted:
            self._retry(trial)
        self._durations.append(time.time() - start)
        self._report(trial.number, point, state.name, value, runs)

    def _retry(self, trial) -> None:
        import warnings

        import optuna

        frozen = self.study._storage.get_trial(trial._trial_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.RetryHeartbeatStaleTrialCallback()(self.study, frozen)

    def _run_one(self, trial, point: dict, seed: int | None, prune: bool) -> _Run:
        from ..api import EXIT_FINISHED

        experiment, overrides = self.spec.overrides(point, seed)
        work_dir = self.sweep_dir / "trials" / trial_dir_name(point, seed)
        work_dir.mkdir(parents=True, exist_ok=True)
        log_path = work_dir / "trial.log"
        run = _Run(seed, work_dir=str(work_dir.relative_to(self.sweep_dir)), log=str(log_path.relative_to(self.sweep_dir)))
        command = run_command(experiment, overrides, work_dir, self.sweep_dir / "upstream")
        progress = _Progress(work_dir / "progress.jsonl")
        start = time.time()
        with open(log_path, "a") as log:
            log.write(f"=== aegis sweep: trial {trial.number} starts at {time.strftime('%Y-%m-%d %H:%M:%S')} "
                      f"(worker {worker_id()})\n$ {' '.join(command)}\n")
            log.flush()
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=trial_env(self.parallel),
                                       preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                                       start_new_session=True)
            pruned, stopped = self._watch(trial, process, progress if prune else None)
        run.exit_code, run.wall_time_s = process.returncode, round(time.time() - start, 2)
        if prune and not pruned:  # validations written after the last poll
            pruned = self._prune_check(trial, progress)
        result = _read_json(work_dir / "result.json")
        if pruned:
            run.status = "pruned"
        elif stopped or (process.returncode == 3 and result and result.get("status") == "stopped"):
            run.status = "interrupted"
        elif process.returncode == EXIT_FINISHED and result is not None:
            final = (result.get("metrics") or {}).get(self.spec.metric, {}).get("final")
            if isinstance(final, (int, float)):
                run.status, run.value = "finished", float(final)
            else:
                run.error = (f"result.json has no final value of {self.spec.metric!r}; its metrics: "
                             f"{sorted(result.get('metrics') or {})}")
        else:
            run.error = (result or {}).get("error") or ("no result.json" if result is None else None)
        return run

    def _watch(self, trial, process, progress: _Progress | None) -> tuple[bool, bool]:
        """Wait for the run; heartbeat, prune (SIGTERM) and forward a sweep stop. Returns (pruned, stopped)."""
        pruned = stopped = False
        beat = time.time()
        while process.poll() is None:
            try:  # returns as soon as the run exits, so the next trial starts without a polling delay
                process.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
            if time.time() - beat >= HEARTBEAT_INTERVAL_S:
                trial.set_user_attr("heartbeat", time.time())
                beat = time.time()
            if not (pruned or stopped):
                if self.stop.is_set():
                    stopped = True
                    process.send_signal(signal.SIGTERM)
                elif progress is not None and self._prune_check(trial, progress):
                    pruned = True
                    process.send_signal(signal.SIGTERM)  # saves a checkpoint and exits 3
        return pruned, stopped

    def _prune_check(self, trial, progress: _Progress) -> bool:
        decided = False
        for step, value in progress.new_points(self.spec.metric):
            trial.report(value, step)
            decided = decided or trial.should_prune()
        return decided

    # --- progress -------------------------------------------------------------------------------------------------
    def _report(self, number: int, point: dict, state: str, value: float | None, runs: list[_Run]) -> None:
        shown = " ".join(f"{k}={v}" for k, v in point.items())
        seeds = f" over {len(runs)} seeds" if len(runs) > 1 else ""
        what = f"{self.spec.metric}={value:.6g}{seeds}" if value is not None else (runs[-1].error or "")[:200]
        if runs[-1].status == "interrupted":
            state = "INTERRUPTED (queued again)"
        line = f"[trial {number}] {shown}: {state} {what} ({runs[-1].wall_time_s:.1f} s, log {runs[-1].log})"
        with self._print_lock:
            self.last_status = self.status_line()
            print(line, file=self.out, flush=True)
            print(self.last_status, file=self.out, flush=True)

    def status_line(self) -> str:
        """``done / running / failed / pruned``, best so far and the estimated time left."""
        numbers = counts(self.study)
        done = numbers["complete"] + numbers["failed"] + numbers["pruned"]
        total = self.spec.trials or self.spec.grid_size
        text = (f"sweep {self.spec.name}: {done}{'/' + str(total) if total else ''} done, {numbers['running']} running, "
                f"{numbers['failed']} failed, {numbers['pruned']} pruned")
        try:
            best = self.study.best_trial
            text += f" | best {self.spec.metric}={best.value:.6g} (trial {best.number})"
        except ValueError:
            pass
        if total and self._durations:
            left = max(0, total - done) * statistics.fmean(self._durations) / self.parallel
            text += f" | about {int(left // 60)}m{int(left % 60):02d}s left"
        return text


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
