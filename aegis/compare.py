"""``aegis compare RUN_DIR...``: several runs side by side, from what each run wrote into its work dir.

A table of every metric's final and best value per run (from ``result.json``) with the difference against the first
run, the config keys in which the runs differ (from each ``config.py``), and one PNG overlaying their logged curves.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["load_run", "metrics_table", "config_differences", "draw_curve", "plot_curves", "compare_runs"]

_IGNORED_KEYS = ("work_dir", "resume", "load_from", "launcher", "experiment_name", "_init_from")


def load_run(work_dir: str | Path) -> dict[str, Any]:
    """A run's ``result.json`` (required) and resolved ``config.py`` (optional), named by its work dir."""
    work_dir = Path(work_dir)
    path = work_dir / "result.json"
    if not path.is_file():
        raise ConfigError(f"{work_dir}: no result.json; expected the work dir of a run made by tools/run.py "
                          "(runs from before result.json existed can be rerun with --resume to write one).")
    config = {}
    if (work_dir / "config.py").is_file():
        from mmengine.config import Config
        config = Config.fromfile(str(work_dir / "config.py"), import_custom_modules=False).to_dict()
    return dict(name=work_dir.name, path=work_dir, result=json.loads(path.read_text()), config=config)


def _number(value) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def metrics_table(runs: list[dict]) -> str:
    """Markdown: one row per metric with a score mode, each run's final (best) and its difference to the first run."""
    keys = sorted({k for run in runs for k, m in run["result"]["metrics"].items() if m.get("mode")})
    header = "| metric | " + " | ".join(run["name"] for run in runs) + " |"
    lines = [header, "|" + " --- |" * (len(runs) + 1)]
    for key in keys:
        cells, first = [], runs[0]["result"]["metrics"].get(key, {}).get("final")
        for index, run in enumerate(runs):
            entry = run["result"]["metrics"].get(key)
            if entry is None:
                cells.append("—")
                continue
            text = f"{_number(entry.get('final'))} (best {_number(entry.get('best'))})"
            if index and isinstance(first, (int, float)) and isinstance(entry.get("final"), (int, float)):
                text += f", Δ {entry['final'] - first:+.4g}"
            cells.append(text)
        lines.append(f"| {key} ({runs[0]['result']['metrics'].get(key, {}).get('mode') or 'max'}) | "
                     + " | ".join(cells) + " |")
    lines.append("| status | " + " | ".join(run["result"].get("status", "?") for run in runs) + " |")
    return "\n".join(lines)


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        flat = {}
        for key, value in node.items():
            flat.update(_flat(value, f"{prefix}{key}."))
        return flat
    if isinstance(node, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in node):
        flat = {}
        for index, value in enumerate(node):
            flat.update(_flat(value, f"{prefix}{index}."))
        return flat
    return {prefix[:-1]: node}


def config_differences(runs: list[dict]) -> dict[str, list]:
    """``{dotted key: [value in each run]}`` for the keys whose values differ (where/how-it-ran keys left out)."""
    flats = [_flat(run["config"]) for run in runs]
    keys = sorted(set().union(*flats))
    missing = object()
    differ = {}
    for key in keys:
        if key.split(".")[0] in _IGNORED_KEYS or key.startswith("upstream.") and key.endswith(".built"):
            continue
        values = [flat.get(key, missing) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            differ[key] = ["(unset)" if v is missing else v for v in values]
    return differ


def _curve_keys(runs: list[dict], limit: int, extra: tuple[str, ...]) -> list[str]:
    from .engine.result import load_scalars, metric_mode

    present = {}
    for run in runs:
        run["scalars"] = load_scalars(run["path"])
        for line in run["scalars"]:
            for key in line:
                if key != "step" and (metric_mode(key) or key in extra):
                    present[key] = present.get(key, 0) + 1
    ordered = sorted(present, key=lambda k: (present[k] < 2 * len(runs),  # curves before one-off end-of-run scores
                                              not (k.startswith(("val/", "test/", "eval/")) or k in _HEADLINE),
                                              k in extra, k))
    return ordered[:limit]


# Training curves a reader looks for first: the loss, and an RL run's return, success rate and episode length.
_HEADLINE = ("train/loss", "train/ep_return", "train/success_rate", "train/ep_length")


def draw_curve(ax, scalars: list[dict], key: str, label: str) -> int:
    """Draw ``key`` against the logged step from ``scalars`` (:func:`aegis.engine.result.load_scalars` lines) on the
    matplotlib axes ``ax``, dots where there are few points; returns how many points were drawn (0: none logged)."""
    points = [(line["step"], line[key]) for line in scalars if key in line and "step" in line]
    if points:
        steps, values = zip(*points)
        ax.plot(steps, values, marker="." if len(points) < 30 else None, label=label)
    return len(points)


def plot_curves(runs: list[dict], path: str | Path, limit: int = 6, extra: tuple[str, ...] = ()) -> Path | None:
    """One panel per metric (validation metrics and the training loss first, then other scores and ``extra`` keys
    such as the learning rate), every run's logged curve overlaid; ``runs`` are dicts with ``name`` and ``path``."""
    keys = _curve_keys(runs, limit, extra)
    if not keys:
        return None
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    columns = min(3, len(keys))
    rows = (len(keys) + columns - 1) // columns
    figure = Figure(figsize=(5 * columns, 3.4 * rows), dpi=100, layout="constrained")
    for index, key in enumerate(keys):
        ax = figure.add_subplot(rows, columns, index + 1)
        for run in runs:
            draw_curve(ax, run["scalars"], key, run["name"])
        ax.set_title(key)
        ax.set_xlabel("logged step")
        ax.legend(fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def compare_runs(work_dirs: list[str], out: str | Path = "compare.png") -> str:
    """The text ``aegis compare`` prints (metrics table, config differences) after writing the curves to ``out``."""
    if len(work_dirs) < 2:
        raise ConfigError(f"aegis compare needs at least two run dirs, got {len(work_dirs)}.")
    runs = [load_run(d) for d in work_dirs]
    names = [run["name"] for run in runs]
    if len(set(names)) < len(names):  # the same folder name in two places: show more of each path
        for run in runs:
            run["name"] = str(run["path"])
    parts = ["Metrics: final (best), Δ against the first run", metrics_table(runs), ""]
    differ = config_differences(runs)
    parts.append("Config keys that differ:" if differ else "The resolved configs are the same.")
    for key, values in differ.items():
        parts.append(f"  {key}: " + " | ".join(repr(v) for v in values))
    written = plot_curves(runs, out)
    parts += ["", f"Curves: {written}" if written else "Curves: no logged scalars to plot."]
    return "\n".join(parts)
