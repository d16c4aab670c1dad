"""Run a fixed sequence of command-line steps (the demo), reusing the outputs of steps that already finished."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AegisError

__all__ = ["Step", "run_steps"]


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
