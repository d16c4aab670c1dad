"""The plots of a sweep report (PNG, matplotlib's Agg backend), written by :func:`aegis.sweep.report.write_report`.

heatmap.png (exactly two swept keys), metric_vs_params.png (one panel per key), parallel_coordinates.png,
learning_curves.png (from each run's scalars.json, else the trial's intermediate values) and best_so_far.png.
A plot that does not apply, or has nothing to show, is not written.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

__all__ = ["write_plots"]


_STATES = {"COMPLETE": "no value", "PRUNED": "pruned", "FAIL": "failed"}


def _order(values: list[Any]) -> list[Any]:
    """Distinct values, numerically sorted when all are numbers, else in order of appearance."""
    distinct = list(dict.fromkeys(values))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in distinct)
    return sorted(distinct) if numeric else distinct


def _label(value: Any) -> str:
    """A tick label: 3 significant digits for floats, an experiment file's name without folder and suffix."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, str) and value.endswith(".py"):
        return Path(value).stem
    return str(value)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _heatmap(results, path: Path) -> bool:
    scored = [t for t in results.trials if t.mean is not None]
    if len(results.param_keys) != 2 or not scored:
        return False
    (kx, ky) = results.param_keys
    xs, ys = _order([t.params.get(kx) for t in results.trials]), _order([t.params.get(ky) for t in results.trials])
    cells: dict[tuple, list[float]] = {}
    states: dict[tuple, str] = {}
    for trial in results.trials:
        cell = (xs.index(trial.params.get(kx)), ys.index(trial.params.get(ky)))
        states[cell] = _STATES.get(trial.state, "running")
        if trial.mean is not None:
            cells.setdefault(cell, []).append(trial.mean)
    grid = [[sum(cells[(i, j)]) / len(cells[(i, j)]) if (i, j) in cells else math.nan for i in range(len(xs))]
            for j in range(len(ys))]
    fig = _figure(1.2 * len(xs) + 3, 0.8 * len(ys) + 2)
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="viridis_r" if not results.maximize else "viridis", origin="lower", aspect="auto")
    finite = [v for row in grid for v in row if not math.isnan(v)]
    middle = (min(finite) + max(finite)) / 2
    for j, row in enumerate(grid):
        for i, value in enumerate(row):
            text = states.get((i, j), "—") if math.isnan(value) else f"{value:.3g}"
            dark = not math.isnan(value) and ((value > middle) != results.maximize)
            ax.text(i, j, text, ha="center", va="center", color="white" if dark else "black", fontsize=9)
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
    ax.set_xlabel(kx)
    ax.set_ylabel(ky)
    ax.set_title(f"{results.metric}, mean over seeds")
    fig.colorbar(image, ax=ax, label=results.metric)
    fig.savefig(path)
    return True


def _metric_vs_params(results, path: Path) -> bool:
    scored = [t for t in results.trials if t.mean is not None]
    if not results.param_keys or not scored:
        return False
    fig = _figure(4 * len(results.param_keys), 3.5)
    axes = fig.subplots(1, len(results.param_keys), squeeze=False)[0]
    for ax, key in zip(axes, results.param_keys):
        ticks = _order([t.params.get(key) for t in scored])
        for trial in scored:
            x = ticks.index(trial.params.get(key))
            ax.scatter([x] * len(trial.seed_values), trial.seed_values, color="0.7", s=12)
            ax.scatter([x], [trial.mean], color="C0", s=30)
        means = [[t.mean for t in scored if t.params.get(key) == v] for v in ticks]
        ax.plot(range(len(ticks)), [min(m) if not results.maximize else max(m) for m in means], color="C1",
                label="best point at this value")
        ax.set_xticks(range(len(ticks)), [_label(v) for v in ticks], rotation=30)
        ax.set_xlabel(key)
        ax.set_ylabel(results.metric)
    axes[0].legend(fontsize=8)
    fig.savefig(path)
    return True


def _learning_curves(results, path: Path) -> bool:
    from aegis.sweep.report import load_scalars

    fig = _figure(7, 4.5)
    ax = fig.add_subplot()
    drawn = 0
    for colour, trial in enumerate(sorted(results.trials, key=lambda t: t.number)):
        curves = []
        for run in trial.runs:
            points = {line["step"]: line[results.metric] for line in (load_scalars(run["path"]) if run["path"] else [])
                      if results.metric in line and "step" in line}
            if points:
                curves.append((f"trial {trial.number} seed {run.get('seed')}", points))
        if not curves and trial.intermediate:
            curves = [(f"trial {trial.number}", trial.intermediate)]
        for label, points in curves:
            steps = sorted(points)
            ax.plot(steps, [points[s] for s in steps], color=f"C{colour % 10}", marker=".", label=label,
                    linestyle="--" if trial.state == "PRUNED" else "-")
            drawn += 1
    if not drawn:
        return False
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("step (as logged: iterations, or epochs for a per-epoch validation)")
    ax.set_ylabel(results.metric)
    ax.set_title("learning curves (dashed: pruned)")
    if drawn <= 16:
        ax.legend(fontsize=7)
    fig.savefig(path)
    return True


def _best_so_far(results, path: Path) -> bool:
    finished = sorted((t for t in results.trials if t.state == "COMPLETE" and t.mean is not None),
                      key=lambda t: t.number)
    if not finished:
        return False
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    best: list[float] = []
    for trial in finished:
        best.append(trial.mean if not best else (max if results.maximize else min)(best[-1], trial.mean))
    ax.scatter([t.number for t in finished], [t.mean for t in finished], color="C0", label="trial (mean over seeds)")
    others = [t.number for t in results.trials if t.state in ("PRUNED", "FAIL")]
    last = max([t.number for t in results.trials])
    ax.step([t.number for t in finished] + [last], best + best[-1:], where="post", color="C1", label="best so far")
    if others:
        ax.scatter(others, [min(best) if not results.maximize else max(best)] * len(others), marker="x",
                   color="C3", label="pruned or failed")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("trial number")
    ax.set_ylabel(results.metric)
    ax.legend(fontsize=8)
    fig.savefig(path)
    return True


def _parallel_coordinates(results, path: Path) -> bool:
    """Optuna's parallel-coordinate plot over an in-memory copy of the study holding only the kept trials."""
    import matplotlib
    import optuna

    if not any(t.state == "COMPLETE" and t.value is not None for t in results.trials):
        return False
    kept = {t.number for t in results.trials if t.state in ("COMPLETE", "PRUNED", "FAIL")}
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", "Attempting to set identical", UserWarning)  # a key with one value
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = optuna.create_study(direction=results.spec.get("direction", "minimize"))
            study.add_trials([t for t in results.study.get_trials(deepcopy=False) if t.number in kept])
            ax = optuna.visualization.matplotlib.plot_parallel_coordinate(study, target_name=results.metric)
        except (ValueError, TypeError) as exc:  # a parameter type Optuna cannot draw: skip this plot only
            warnings.warn(f"sweep report: parallel coordinates skipped ({exc})", stacklevel=2)
            return False
        finally:
            optuna.logging.set_verbosity(verbosity)
        ax.figure.set_size_inches(max(6.0, 1.6 * len(results.param_keys) + 3), 4.5)
        ax.figure.savefig(path, bbox_inches="tight")
        plt.close(ax.figure)
    return True


def write_plots(results, plots_dir: Path) -> dict[str, Path]:
    """Write every plot that applies to ``results`` (a :class:`~aegis.sweep.report.SweepResults`) into ``plots_dir``.

    Returns the written files by name (``"heatmap"``, ``"metric_vs_params"``, ``"parallel_coordinates"``,
    ``"learning_curves"``, ``"best_so_far"``). Stale PNGs of an earlier report that no longer apply are removed.
    """
    plots_dir = Path(plots_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)
    makers = {
        "heatmap": _heatmap,
        "metric_vs_params": _metric_vs_params,
        "parallel_coordinates": _parallel_coordinates,
        "learning_curves": _learning_curves,
        "best_so_far": _best_so_far,
    }
    written = {}
    for name, make in makers.items():
        path = plots_dir / f"{name}.png"
        if make(results, path):
            written[name] = path
        else:
            path.unlink(missing_ok=True)
    return written
