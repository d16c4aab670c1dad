"""The demo's machinery: run a fixed sequence of command-line steps, reusing the outputs of steps that already
finished, then draw one figure of every phase (its training curves, its result beside its control) from what the
runs wrote into their work dirs (mmengine's ``scalars.json``, ``metrics.json``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .engine.metrics_file import read_metrics_json
from .errors import AegisError

__all__ = ["Step", "run_steps", "Curve", "CurvePanel", "Result", "Phase", "summary_lines", "draw_summary",
           "summary_figure", "constant_answer_accuracy"]


@dataclass
class Step:
    """One command. ``creates`` is the file whose existence means the step already ran (None: always run)."""
    title: str
    command: list[str]
    creates: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def run_steps(steps: list[Step], fresh: bool = False, cwd: str | os.PathLike = ".") -> list[tuple[str, float]]:
    """Run each step with this Python; skip one whose ``creates`` exists (unless ``fresh``). Returns (title, seconds)."""
    timings = []
    for index, step in enumerate(steps, 1):
        banner = f"[{index}/{len(steps)}] {step.title}"
        if step.creates and not fresh and (Path(cwd) / step.creates).exists():
            print(f"\n{banner}: reusing {step.creates} (make clean or --fresh to redo)", flush=True)
            timings.append((step.title, 0.0))
            continue
        print(f"\n{banner}\n$ {' '.join(step.command)}", flush=True)
        start = time.perf_counter()
        command = [sys.executable if part == "python" else part for part in step.command]
        result = subprocess.run(command, cwd=cwd, env={**os.environ, **step.env})
        if result.returncode != 0:
            raise AegisError(f"demo step '{step.title}' failed (exit {result.returncode}): {' '.join(step.command)}")
        timings.append((step.title, time.perf_counter() - start))
    return timings


@dataclass
class Curve:
    """One logged training scalar (``key`` in mmengine's ``scalars.json``) of the run in ``work_dir``."""
    work_dir: str
    key: str
    label: str


@dataclass
class CurvePanel:
    """One plot of training curves drawn against their logged step (``xlabel`` names it: iteration, env step)."""
    title: str
    curves: list[Curve]
    xlabel: str = "iteration"


@dataclass
class Result:
    """One final number, a bar in its phase's result panel: ``key`` of ``<work_dir>/metrics.json``, or ``value``
    when the demo computes it itself (a control such as the best constant answer). ``control`` bars are drawn grey
    and hatched; bars of one ``group`` stand together."""
    label: str
    work_dir: str = ""
    key: str = ""
    group: str = ""
    control: bool = False
    value: float | None = None

    def read(self) -> float | None:
        """The number, or None when the run has not written it (yet)."""
        if self.value is not None:
            return float(self.value)
        value = read_metrics_json(self.work_dir).get(self.key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class Phase:
    """One row of the summary figure: its training curves, then its results beside their controls (bars on a 0-1
    scale) and ``notes``, numbers on other scales written into the result panel's title (BLEU-4, CIDEr)."""
    title: str
    curve_panels: list[CurvePanel]
    results: list[Result]
    result_title: str
    notes: list[Result] = field(default_factory=list)


def summary_lines(phases: list[Phase]) -> list[str]:
    """``  <phase>: <group>, <label>   <value>`` for every result and note that exists, as the demo prints them."""
    lines = []
    for phase in phases:
        for result in phase.results + phase.notes:
            value = result.read()
            if value is not None:
                name = ", ".join(part for part in (phase.title.split(":")[0], result.group, result.label) if part)
                lines.append(f"  {name:<62} {value:.3f}")
    return lines


def constant_answer_accuracy(annotations: str | os.PathLike, split: str, field_name: str) -> float | None:
    """The accuracy of answering every video of ``split`` with the most common value of ``field_name`` (e.g.
    ``class_name``, ``speed``) in an annotation list (``captions.json``): what one alert for every video would score.
    None when the file is missing or no video of the split has the field."""
    path = Path(annotations)
    if not path.is_file():
        return None
    values = [entry.get(field_name) for entry in json.loads(path.read_text()) if entry.get("split") == split]
    values = [value for value in values if value is not None]
    return max(values.count(value) for value in set(values)) / len(values) if values else None


def _draw_curves(ax, panel: CurvePanel, scalars: dict[str, list[dict]]) -> None:
    from .compare import draw_curve
    from .engine.result import load_scalars

    drawn = 0
    for curve in panel.curves:
        if curve.work_dir not in scalars:
            scalars[curve.work_dir] = load_scalars(curve.work_dir)
        drawn += draw_curve(ax, scalars[curve.work_dir], curve.key, curve.label)
    ax.set_title(panel.title, fontsize="medium")
    ax.set_xlabel(panel.xlabel)
    if drawn:
        ax.legend(fontsize="small")
    else:
        missing = ", ".join(sorted({f"{c.key} in {c.work_dir}" for c in panel.curves}))
        ax.text(0.5, 0.5, f"not logged yet:\n{missing}", ha="center", va="center", fontsize="small", wrap=True,
                transform=ax.transAxes)


def _draw_results(ax, phase: Phase) -> None:
    values = [(result, result.read()) for result in phase.results]
    shown = [(result, value) for result, value in values if value is not None]
    positions, x, last_group, centers = [], 0.0, None, {}
    for result, _ in shown:
        if last_group is not None and result.group != last_group:
            x += 0.6  # a gap between groups
        positions.append(x)
        centers.setdefault(result.group, []).append(x)
        last_group, x = result.group, x + 1.0
    bars = ax.bar(positions, [value for _, value in shown], width=0.8,
                  color=["0.75" if r.control else "tab:blue" for r, _ in shown],
                  hatch=None, edgecolor="0.3")
    for bar, (result, _) in zip(bars, shown):
        if result.control:
            bar.set_hatch("//")
    ax.bar_label(bars, fmt="%.2f", fontsize="small")
    ax.set_xticks(positions, [result.label for result, _ in shown], fontsize="small", rotation=20, ha="right")
    ax.set_ylim(0, max([1.05] + [1.15 * value for _, value in shown]))
    if any(result.group for result, _ in shown):
        for group, xs in centers.items():
            ax.text(sum(xs) / len(xs), 1.0, group, ha="center", va="bottom", fontsize="small",
                    transform=ax.get_xaxis_transform())
    notes = [f"{note.label} {value:.3g}" for note in phase.notes if (value := note.read()) is not None]
    ax.set_title(phase.result_title + ("\n" + ", ".join(notes) if notes else ""), fontsize="medium",
                 pad=14 if centers and any(centers) else 6)
    missing = [f"{result.label} ({result.work_dir}: no {result.key})" for result, value in values if value is None]
    if missing:
        ax.text(0.5, 0.5, "not measured yet:\n" + "\n".join(missing), ha="center", va="center", fontsize="small",
                transform=ax.transAxes)


def draw_summary(phases: list[Phase]):
    """The summary as a matplotlib ``Figure``: a row per phase (a subfigure titled with the phase), its curve panels
    left to right and its results beside their controls at the right end. Panels whose runs have not written their
    numbers yet say so instead of failing."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    if not phases:
        raise AegisError("the demo summary needs at least one phase.")
    columns = max(len(phase.curve_panels) for phase in phases) + 1
    figure = Figure(figsize=(5 * columns, 3.9 * len(phases)), dpi=100, layout="constrained")
    figure.suptitle("AEGIS demo: training curves, and each phase's result beside its control (grey, hatched)")
    scalars: dict[str, list[dict]] = {}
    for row, phase in zip(figure.subfigures(len(phases), 1, squeeze=False)[:, 0], phases):
        row.suptitle(phase.title, fontweight="bold", x=0.01, ha="left")
        axes = row.subplots(1, columns, squeeze=False)[0]
        for ax, panel in zip(axes, phase.curve_panels):
            _draw_curves(ax, panel, scalars)
        for ax in axes[len(phase.curve_panels):-1]:
            ax.set_axis_off()
        _draw_results(axes[-1], phase)
    return figure


def summary_figure(phases: list[Phase], path: str | os.PathLike) -> Path:
    """Save :func:`draw_summary` of ``phases`` as a PNG at ``path`` (folders created) and return the path."""
    figure = draw_summary(phases)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
