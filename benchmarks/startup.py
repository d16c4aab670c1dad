#!/usr/bin/env python
"""How fast ``tools/run.py`` answers before anything heavy runs: ``--help`` and three configuration errors.

    python benchmarks/startup.py [--runs 5] [--root REPO] [--python PYTHON]

Each case is a fresh ``tools/run.py`` subprocess (cwd: the repository root), run ``--runs`` times in turn (a b c d
a b c d ...); per case it prints the median and the min-max of the wall seconds and of the CPU seconds (user +
system of the child, from ``getrusage(RUSAGE_CHILDREN)``), the exit code and the first line of what it printed:

  a. ``tools/run.py --help``                                                   (target: under 1 s)
  b. unknown key:  ``experiments/vlm_tiny_cpu.py --cfg-options model.connector.typo=1``      (target: under 2 s)
  c. unknown type: ``experiments/vlm_tiny_cpu.py --cfg-options model.connector.type=QFormr``
  d. wrong type:   ``experiments/vlm_tiny_cpu.py --cfg-options model.connector.hidden_size=big``

The targets are for an otherwise idle 2-core machine; on a loaded one both columns grow. ``--root`` measures
another checkout (e.g. ``git archive HEAD~5 | tar -x -C /tmp/old``) with the same interpreter; the process gets
``PYTHONPATH=ROOT`` so that checkout's ``aegis`` is the one imported.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "help": ["--help"],
    "unknown key": ["experiments/vlm_tiny_cpu.py", "--cfg-options", "model.connector.typo=1"],
    "unknown type": ["experiments/vlm_tiny_cpu.py", "--cfg-options", "model.connector.type=QFormr"],
    "wrong type": ["experiments/vlm_tiny_cpu.py", "--cfg-options", "model.connector.hidden_size=big"],
}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(python: str, root: Path, args: list[str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, exit code, first line of stderr, else of stdout) of one ``tools/run.py ARGS`` process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
               PYTHONWARNINGS="ignore")
    cpu, start = _child_cpu(), time.perf_counter()
    proc = subprocess.run([python, "tools/run.py", *args], cwd=root, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _child_cpu() - cpu
    text = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return wall, cpu, proc.returncode, text[0] if text else ""


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per case (default 5)")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="repository to measure")
    parser.add_argument("--python", default=sys.executable, help="interpreter (default: this one)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    samples: dict[str, list[tuple[float, float, int, str]]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, case in CASES.items():
            samples[name].append(run_once(args.python, root, case))
    print(f"tools/run.py start-up, {args.runs} runs per case, {root}  (median (min-max) seconds)")
    print(f"{'case':<13} {'wall':>20} {'cpu':>20}  exit  first line")
    for name, runs in samples.items():
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        codes = sorted({r[2] for r in runs})
        print(f"{name:<13} {_spread(walls):>20} {_spread(cpus):>20}  {','.join(map(str, codes)):>4}  {runs[-1][3][:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
