"""The reports of a sweep: ``results.csv``, ``summary.md`` and ``plots/`` in ``sweeps/<name>/``.

Everything is read back from the sweep's Optuna study (``sweep.json`` names its storage) and from each run's work dir
(``result.json``, mmengine's ``vis_data/scalars.json``), so a report can be rewritten at any time, also while the
sweep still runs. Trials that a dead worker left behind (user attr ``interrupted``) and duplicates (``duplicate``) are
left out of every table, count and plot. One trial is one point of the space; its runs are the seeds.
"""
from __future__ import annotations

import csv
import json
import math
import shlex
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aegis.engine.result import load_scalars
from aegis.errors import ConfigError
from aegis.overrides import format_value, parse_value
from aegis.sweep.space import SweepSpec

__all__ = ["TrialResult", "SweepResults", "load_results", "load_scalars", "t_interval", "format_table",
           "write_report"]

# Two-sided 95% Student t quantiles by degrees of freedom; a df between two rows takes the smaller df (wider).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t_interval(values: list[float]) -> tuple[float, float | None]:
    """Mean of ``values`` and the half-width of its two-sided 95% t-interval (None for fewer than two values)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    df = len(values) - 1
    t = 1.960 if df > 120 else _T95[max(k for k in _T95 if k <= df)]
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


@dataclass
class TrialResult:
    """One trial (one point of the space) and its seed runs (the ``runs`` user attr).

    Each run dict also carries ``path``, its resolved work dir (None if unknown), and ``result``, its parsed
    ``result.json`` (None if missing).
    """

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    runs: list[dict] = field(default_factory=list)
    intermediate: dict[int, float] = field(default_factory=dict)

    @property
    def seed_values(self) -> list[float]:
        """The metric of every seed run that produced one (the trial value alone if no run recorded one)."""
        values = [float(r["value"]) for r in self.runs if r.get("value") is not None]
        return values or ([float(self.value)] if self.value is not None else [])

    @property
    def mean(self) -> float | None:
        """Mean of the metric over seeds; None when no seed finished."""
        return t_interval(self.seed_values)[0] if self.seed_values else None


@dataclass
class SweepResults:
    """A sweep's spec (``sweep.json``), its study and its kept trials (interrupted and duplicate ones left out)."""

    sweep_dir: Path
    spec: dict
    study: Any
    trials: list[TrialResult]
    param_keys: list[str]
    excluded: int

    @property
    def metric(self) -> str:
        """The objective's name, e.g. ``val/mse``."""
        return self.spec["metric"]

    @property
    def maximize(self) -> bool:
        """True when a larger metric is better."""
        return self.spec.get("direction", "minimize") == "maximize"

    def counts(self) -> dict[str, int]:
        """Kept trials by state: complete, pruned, failed, running, waiting."""
        from aegis.sweep.study import counts

        return counts(self.study)

    def ranked(self) -> list[TrialResult]:
        """Trials with a metric first, best first per direction; then the others by trial number."""
        scored = sorted((t for t in self.trials if t.mean is not None),
                        key=lambda t: (-t.mean if self.maximize else t.mean, t.number))
        return scored + [t for t in self.trials if t.mean is None]


def _storage(spec: dict, sweep_dir: Path):
    """The sweep's storage; a relative journal path is looked up beside sweep.json first."""
    from aegis.sweep.study import open_storage

    storage = str(spec["storage"])
    if "://" not in storage and not Path(storage).is_absolute() and (sweep_dir / storage).exists():
        storage = str(sweep_dir / storage)
    return open_storage(storage)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _work_dir(run: dict, sweep_dir: Path) -> Path | None:
    if not run.get("work_dir"):
        return None
    path = Path(run["work_dir"])
    return path if path.is_absolute() else sweep_dir / path


def load_results(sweep_dir: Path) -> SweepResults:
    """Read ``sweep.json``, the study and every run's ``result.json`` of the sweep in ``sweep_dir``."""
    import optuna

    sweep_dir = Path(sweep_dir)
    spec = _read_json(sweep_dir / "sweep.json")
    if spec is None:
        raise ConfigError(f"{sweep_dir}: no readable sweep.json; expected a sweep directory such as sweeps/<name>/ "
                          "written by `aegis sweep`.")
    dims = SweepSpec.from_dict(spec).space
    study = optuna.load_study(study_name=spec["name"], storage=_storage(spec, sweep_dir))
    trials, excluded = [], 0
    keys = list(dims)
    for frozen in study.get_trials(deepcopy=False):
        attrs = frozen.user_attrs
        if attrs.get("interrupted") or attrs.get("duplicate"):
            excluded += 1
            continue
        runs = []
        for run in attrs.get("runs") or []:
            path = _work_dir(run, sweep_dir)
            runs.append(dict(run, path=path, result=_read_json(path / "result.json") if path else None))
        keys += [k for k in frozen.params if k not in keys]
        params = {k: dims[k].decode(v) if k in dims else v for k, v in frozen.params.items()}
        trials.append(TrialResult(frozen.number, frozen.state.name, params, frozen.value, runs,
                                  dict(frozen.intermediate_values)))
    keys = [k for k in keys if any(k in t.params for t in trials)] or keys
    return SweepResults(sweep_dir, spec, study, trials, keys, excluded)


def _space_firsts(spec: dict) -> dict[str, Any]:
    """The first value of every listed (grid or choice) key of the space: the first point of the space."""
    return {k: d.values[0] for k, d in SweepSpec.from_dict(spec).space.items() if d.categorical}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return str(a) == str(b)


def _base_trial(results: SweepResults, base: dict[str, str] | None) -> TrialResult | None:
    """The base point: ``base`` (k=v strings) with the other keys at their first space value; else the first trial."""
    base = {k: parse_value(v) if isinstance(v, str) else v for k, v in (base or {}).items()}
    scored = [t for t in results.trials if t.mean is not None]
    for key in base or {}:
        if key not in results.param_keys:
            raise ConfigError(f"--base {key}=...: {key!r} is not a swept key; swept keys: {results.param_keys}.")
    wanted = {**_space_firsts(results.spec), **(base or {})}
    match = [t for t in scored if all(_same(t.params.get(k), v) for k, v in (base or {}).items())]
    if base and not match:
        raise ConfigError(f"--base {base}: no finished trial has these values; finished points: "
                          f"{[t.params for t in scored][:5]}.")
    full = [t for t in (match or scored) if all(_same(t.params.get(k), v) for k, v in wanted.items())]
    picks = full or match or ([] if _space_firsts(results.spec) else scored)
    return min(picks, key=lambda t: t.number) if picks else None


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_table(results: SweepResults, base: dict[str, str] | None = None) -> str:
    """The ablation table: one row per point, best first, mean ± 95% t-interval over seeds and the delta to the base.

    ``base`` selects the base point by swept values (``{"connector": "qformer"}``); keys not given take the first
    value of the space. The columns are padded so the same markdown table reads well in a terminal.
    """
    base_trial = _base_trial(results, base)
    header = ["rank", "trial", *results.param_keys, f"{results.metric} (mean ± 95% CI)", "seeds",
              "Δ vs base", "status"]
    rows = []
    for rank, trial in enumerate(results.ranked(), 1):
        values = trial.seed_values
        if trial.mean is None:
            cell, delta = "—", ""
        else:
            mean, half = t_interval(values)
            cell = f"{mean:.4g} ± {half:.2g}" if half is not None else f"{mean:.4g}"
            if base_trial is None:
                delta = ""
            elif trial is base_trial:
                delta = "base"
            else:
                diff = mean - base_trial.mean
                rel = f" ({100 * diff / abs(base_trial.mean):+.1f}%)" if base_trial.mean else ""
                delta = f"{diff:+.4g}{rel}"
        rows.append([str(rank) if trial.mean is not None else "", str(trial.number),
                     *(_fmt(trial.params.get(k, "")) for k in results.param_keys), cell,
                     f"{len([r for r in trial.runs if r.get('value') is not None]) or len(values)}/"
                     f"{len(trial.runs) or len(values)}", delta, trial.state.lower()])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in [header, *rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _command(results: SweepResults, trial: TrialResult) -> str:
    """``python tools/run.py EXP k=v ...`` for the trial's point and first seed, as the sweep ran it."""
    seeds = [r["seed"] for r in trial.runs if r.get("seed") is not None]
    experiment, overrides = SweepSpec.from_dict(results.spec).overrides(trial.params, seeds[0] if seeds else None)
    words = ["python", "tools/run.py", experiment, *(f"{k}={format_value(v)}" for k, v in overrides.items())]
    return " ".join(shlex.quote(w) for w in words)


def _write_csv(results: SweepResults, path: Path) -> None:
    finals = sorted({name for t in results.trials for r in t.runs
                     for name in ((r.get("result") or {}).get("metrics") or {})})
    header = ["trial", "seed", *results.param_keys, results.metric, "trial_value", *(f"final:{m}" for m in finals),
              "trial_state", "status", "exit_code", "wall_time_s", "work_dir", "log"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for trial in sorted(results.trials, key=lambda t: t.number):
            for run in trial.runs or [{}]:
                metrics = (run.get("result") or {}).get("metrics") or {}
                cells = [trial.number, run.get("seed"), *(trial.params.get(k) for k in results.param_keys),
                         run.get("value") if trial.runs else trial.value, trial.value,
                         *(metrics.get(m, {}).get("final") for m in finals), trial.state.lower(), run.get("status"),
                         run.get("exit_code"), run.get("wall_time_s"), run.get("work_dir"), run.get("log")]
                writer.writerow(["" if c is None else c for c in cells])


def _summary(results: SweepResults, base: dict[str, str] | None, plots: dict[str, Path]) -> str:
    spec, counts = results.spec, results.counts()
    lines = [f"# Sweep `{spec['name']}`", "",
             f"Metric `{results.metric}` ({spec.get('direction', 'minimize')}), mean over seeds {spec.get('seeds')}; "
             f"experiment `{spec.get('experiment')}`; storage `{spec.get('storage')}`.", "",
             f"Trials: {counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed"
             + (f", {counts['running'] + counts['waiting']} running or waiting"
                if counts["running"] + counts["waiting"] else "")
             + (f" ({results.excluded} interrupted or duplicate trials left out)" if results.excluded else "") + ".",
             ""]
    ranked = [t for t in results.ranked() if t.mean is not None]
    if ranked:
        best = ranked[0]
        lines += ["## Best point", "", f"Trial {best.number}: `{results.metric}` = {best.mean:.4g} with "
                  + (", ".join(f"`{k}={_fmt(v)}`" for k, v in best.params.items()) or "the defaults") + ".", "",
                  "```bash", _command(results, best), "```", ""]
    else:
        lines += ["**No trial has finished yet**: no best point, no ranking.", ""]
    base_trial = _base_trial(results, base)
    base_text = (f"trial {base_trial.number} ({', '.join(f'{k}={_fmt(v)}' for k, v in base_trial.params.items())})"
                 if base_trial else "none finished, so no Δ")
    lines += ["## All points", "", "Mean ± half-width of the 95% t-interval over seeds (none with a single seed); "
              f"Δ is the mean minus the base point's mean; base: {base_text}.", "", format_table(results, base), ""]
    if plots:
        lines += ["## Plots", ""] + [f"- [{name}](plots/{path.name})" for name, path in plots.items()] + [""]
    lines += ["## Curves", "", "Every trial's TensorBoard events sit under this directory; compare them with", "",
              f"```bash\ntensorboard --logdir {results.sweep_dir}\n```", "",
              "Per-run rows (seed, params, final metrics, status, exit code, wall time, work dir, log): "
              "[results.csv](results.csv).", ""]
    return "\n".join(lines)


def write_report(sweep_dir: Path, base: dict[str, str] | None = None) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.md`` and ``plots/*.png`` into ``sweep_dir``; return them by name.

    ``base`` picks the point the Δ column compares against (``{"key": "value"}``, as ``--base key=value``); without
    it the base is the first point of the space. Plots that do not apply (a heatmap needs exactly two swept keys)
    are skipped. Called at the end of every sweep and by ``aegis sweep report sweeps/<name>``.
    """
    from aegis.sweep.report_plots import write_plots

    results = load_results(Path(sweep_dir))
    written = {"results.csv": results.sweep_dir / "results.csv"}
    _write_csv(results, written["results.csv"])
    plots = write_plots(results, results.sweep_dir / "plots")
    written["summary.md"] = results.sweep_dir / "summary.md"
    written["summary.md"].write_text(_summary(results, base, plots))
    return {**written, **plots}
