#!/usr/bin/env python
"""Wall time of N tiny trials through ``aegis sweep --parallel 1`` against the same N ``tools/run.py`` runs in a loop.

    python benchmarks/sweep_overhead.py [--trials 4] [--repeats 3] [--startup-repeats 3]

Both sides run the toy experiment (``tests/aegis/assets/toy_experiment_val.py``: 3 epochs of 8 iterations and a
validation after each, about 5 s a run on one core) with PYTHONPATH=tests/aegis/assets and OMP_NUM_THREADS=1, once
per learning rate of the same N values:

  * sweep: ``tools/sweep.py --experiment EXP --grid learning_rate=v1,...,vN --metric val/mse --direction minimize
    --name NAME --parallel 1 --root TMP/sweeps`` run in a fresh temporary directory: one process for the sweep,
    which validates the points, creates the Optuna study, starts each trial as a subprocess, records it and writes
    the report (results.csv, summary.md, plots) at the end: all of that is counted as overhead; the
    report's share is timed on its own afterwards (``tools/sweep.py report SWEEP_DIR``, not part of either side);
  * loop: N sequential ``tools/run.py EXP --work-dir DIR learning_rate=v`` subprocesses.

The sides alternate A B B A ... over ``--repeats`` rounds; medians and min-max of each, the overhead in % and in
seconds per trial are printed. Then the start-up cost of one trial, each measured ``--startup-repeats`` times:
  * ``python -c "import aegis"``: the interpreter and the (small) core package, the floor of any process;
  * ``python -c "import torch, mmengine.runner, aegis.run_setup"``: the heavy imports every run pays;
  * ``tools/run.py EXP --dry-run``: load plugins and the experiment, build every component, run one training
    iteration and exit (no validation, no checkpoint);
  * process start to the first training step: ``tools/run.py`` is started and its work dir polled every 5 ms until
    ``<work_dir>/<timestamp>/vis_data/scalars.json`` holds its first line, which mmengine's LoggerHook (interval 1 in
    the toy experiment) writes right after training iteration 1. So this is the time until one training step is done
    and logged, including the step itself (a few ms on the toy model).
Numbers depend on the machine and its load; run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "tests" / "aegis" / "assets" / "toy_experiment_val.py"


def _env() -> dict:
    path = os.pathsep.join([str(EXPERIMENT.parent), str(REPO), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")


def _timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed


def _sweep_flags() -> set[str]:
    """The options the sweep CLI offers (read from its --help), so the benchmark follows the CLI as it is."""
    done = subprocess.run([sys.executable, str(REPO / "tools" / "sweep.py"), "--help"], cwd=REPO, env=_env(),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tools/sweep.py --help failed; is the sweep CLI there?\n{done.stderr[-2000:]}")
    return {word.strip(",[]") for word in done.stdout.split() if word.startswith("--")}


def _sweep(rates: list[float], scratch: Path, name: str, flags: set[str]) -> float:
    cwd = scratch / name
    cwd.mkdir()
    command = [sys.executable, str(REPO / "tools" / "sweep.py"),
               *(["--experiment"] if "--experiment" in flags else []), str(EXPERIMENT),
               "--grid", "learning_rate=" + ",".join(map(repr, rates)), "--metric", "val/mse",
               "--direction", "minimize", "--name", name]
    if "--parallel" in flags:
        command += ["--parallel", "1"]
    root_flag = next((f for f in ("--root", "--sweep-root") if f in flags), None)
    if root_flag:
        command += [root_flag, str(cwd / "sweeps")]
    return _timed(command, cwd)


def _report(scratch: Path, name: str) -> float:
    """``tools/sweep.py report`` alone on a finished sweep: the report's share of the sweep's time."""
    sweep_dir = scratch / name / "sweeps" / name
    return _timed([sys.executable, str(REPO / "tools" / "sweep.py"), "report", str(sweep_dir)], scratch / name)


def _loop(rates: list[float], scratch: Path, name: str) -> float:
    start = time.perf_counter()
    for i, rate in enumerate(rates):
        _timed([sys.executable, str(REPO / "tools" / "run.py"), str(EXPERIMENT), "--work-dir",
                str(scratch / name / f"run{i}"), f"learning_rate={rate!r}"], REPO)
    return time.perf_counter() - start


def _first_step(scratch: Path, name: str) -> float:
    """Seconds from starting ``tools/run.py`` until its first training step is logged to scalars.json."""
    work_dir = scratch / name
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(REPO / "tools" / "run.py"), str(EXPERIMENT), "--work-dir",
                                str(work_dir)], cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None:
            if any(p.stat().st_size for p in work_dir.glob("*/vis_data/scalars.json")):
                return time.perf_counter() - start
            time.sleep(0.005)
        raise SystemExit(f"tools/run.py exited ({process.returncode}) before logging a training step")
    finally:
        process.kill()
        process.wait()


def _line(label: str, values: list[float]) -> str:
    return (f"  {label:<40} median {statistics.median(values):7.2f} s   min {min(values):7.2f}   "
            f"max {max(values):7.2f}   (n={len(values)})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="trials per side (distinct learning rates)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (sweep, loop), alternating order")
    parser.add_argument("--startup-repeats", type=int, default=3, help="runs of each start-up measurement")
    args = parser.parse_args(argv)

    rates = [round(0.01 * (i + 1), 4) for i in range(args.trials)]
    flags = _sweep_flags()
    sweep, loop, report = [], [], []
    with tempfile.TemporaryDirectory(prefix="aegis_sweep_overhead_") as tmp:
        scratch = Path(tmp)
        for r in range(args.repeats):
            order = ("sweep", "loop") if r % 2 == 0 else ("loop", "sweep")
            for side in order:
                if side == "sweep":
                    sweep.append(_sweep(rates, scratch, f"bench_{r}", flags))
                    report.append(_report(scratch, f"bench_{r}"))
                else:
                    loop.append(_loop(rates, scratch, f"loop_{r}"))
            print(f"round {r + 1}: sweep {sweep[-1]:.2f} s, loop {loop[-1]:.2f} s", flush=True)
        imports, heavy, dry, first = [], [], [], []
        for r in range(args.startup_repeats):
            imports.append(_timed([sys.executable, "-c", "import aegis"], REPO))
            heavy.append(_timed([sys.executable, "-c", "import torch, mmengine.runner, aegis.run_setup"], REPO))
            dry.append(_timed([sys.executable, str(REPO / "tools" / "run.py"), str(EXPERIMENT), "--dry-run",
                               "--work-dir", str(scratch / f"dry_{r}")], REPO))
            first.append(_first_step(scratch, f"first_{r}"))
    overhead = statistics.median(sweep) - statistics.median(loop)
    print(f"{args.trials} trials of the toy experiment, {args.repeats} round(s):")
    print(_line("aegis sweep --parallel 1", sweep))
    print(_line("tools/run.py loop", loop))
    print(f"  sweep overhead: {100 * overhead / statistics.median(loop):+.1f}% "
          f"({overhead:+.2f} s in all, {overhead / args.trials:+.2f} s per trial, report writing included)")
    print(_line("report alone (tools/sweep.py report)", report))
    print("start-up of one trial:")
    print(_line('python -c "import aegis"', imports))
    print(_line("import torch, mmengine.runner, aegis", heavy))
    print(_line("tools/run.py --dry-run", dry))
    print(_line("start to first logged train step", first))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
