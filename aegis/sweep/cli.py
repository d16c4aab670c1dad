"""``aegis sweep`` and ``tools/sweep.py``: argument parsing and the two commands (run a sweep, write its report).

``aegis sweep [SWEEP_FILE] [--experiment EXP] [--grid KEY=V1,V2 ...] [options]`` runs a sweep;
``aegis sweep report SWEEP_DIR`` writes the report of one. See ``docs/sweeps.md``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AegisError, ConfigError
from .space import PRUNERS, SAMPLERS, SweepSpec, load_sweep_file, parse_grid_argument

__all__ = ["add_sweep_arguments", "add_sweep_command", "build_parser", "build_spec", "sweep_command",
           "report_command", "main"]

EPILOG = """examples:
  aegis sweep experiments/vlm_tiny_cpu.py --metric val/caption/cider --direction maximize \\
      --grid optim_wrapper.optimizer.lr=1e-5,5e-5,1e-4,5e-4 --grid num_query_tokens=16,32,48,64
  aegis sweep sweeps/connectors.py --seeds 0,1,2 --parallel 2
  aegis sweep report sweeps/vlm_tiny_cpu
exit status: 0 the sweep ran to the end (failed trials are recorded, not fatal), 2 a configuration error (nothing
ran), 3 stopped by SIGTERM/Ctrl-C (running trials saved a checkpoint; the same command resumes)."""


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``aegis sweep`` and ``tools/sweep.py``."""
    parser.add_argument("target", nargs="?", metavar="SWEEP_FILE | report",
                        help="a sweep file (see docs/sweeps.md), or 'report' followed by a sweep dir")
    parser.add_argument("report_dir", nargs="?", metavar="SWEEP_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--experiment", "-e", help="the experiment file every trial runs")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="a grid key with its values (commas inside brackets do not split); repeat for more keys")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides that hold for every trial")
    parser.add_argument("--metric", help="the objective: a key of result.json's metrics (its final value), e.g. val/mse")
    parser.add_argument("--direction", choices=["minimize", "maximize"])
    parser.add_argument("--sampler", choices=SAMPLERS, help="Optuna sampler (default grid)")
    parser.add_argument("--trials", type=int, help="number of points to run (default: the whole grid)")
    parser.add_argument("--seeds", help="comma-separated seeds; every point runs once per seed (randomness.seed)")
    parser.add_argument("--pruner", choices=PRUNERS, help="Optuna pruner on the first seed's curve (default none)")
    parser.add_argument("--pruner-startup-trials", type=int, default=2,
                        help="median pruner: complete trials needed before it prunes (default 2)")
    parser.add_argument("--dry-run", action="store_true", help="validate every point, run none")
    parser.add_argument("--parallel", type=int, default=1, help="trials at once in this worker (threads)")
    parser.add_argument("--name", help="sweep name (default: the sweep file's or experiment's name)")
    parser.add_argument("--root", default="sweeps", help="where sweep dirs go (default sweeps/)")
    parser.add_argument("--storage", help="Optuna storage: a database URL, or a *.log / *.journal file "
                                          "(default sqlite in sweeps/<name>/study.db)")
    parser.add_argument("--grace-period", type=float, default=120.0,
                        help="seconds without heartbeat after which another host's running trial counts as dead")
    parser.add_argument("--executor", choices=["local", "slurm"], default="local")
    parser.add_argument("--workers", type=int, default=1, help="slurm: array tasks, each one worker")
    parser.add_argument("--timeout-min", type=int, default=60, help="slurm: time limit of each array task")
    parser.add_argument("--gpus-per-node", type=int, default=0, help="slurm: GPUs of each array task")
    parser.add_argument("--partition", help="slurm partition")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--base", action="append", default=[], metavar="KEY=VALUE",
                        help="the point the report's delta column compares with (default: the first of the space)")


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2.") from exc


def build_spec(args) -> SweepSpec:
    """The sweep from a sweep file (if given) with the command line's options on top."""
    from ..overrides import parse_override_tokens

    data = load_sweep_file(args.target) if args.target else {}
    space = dict(data.get("space") or {})
    for text in args.grid:
        key, dim = parse_grid_argument(text)
        space[key] = dim
    cfg_options = {**(data.get("cfg_options") or {}), **parse_override_tokens(list(args.cfg_options))}
    experiment = args.experiment or data.get("experiment")
    seeds = _seeds(args.seeds)
    sampler = args.sampler or data.get("sampler") or "grid"
    pruner = args.pruner or data.get("pruner") or "none"
    for key, value, choices in (("sampler", sampler, SAMPLERS), ("pruner", pruner, PRUNERS)):
        if value not in choices:
            raise ConfigError(f"{args.target}: {key}={value!r}; expected one of {', '.join(choices)}.")
    direction = args.direction or data.get("direction") or "minimize"
    if direction not in ("minimize", "maximize"):
        raise ConfigError(f"{args.target}: direction={direction!r}; expected 'minimize' or 'maximize'.")
    stem = Path(args.target).stem if args.target else Path(experiment or "sweep").stem
    spec = SweepSpec(name=args.name or data.get("name") or stem, experiment=experiment,
                     metric=args.metric or data.get("metric"), direction=direction, space=space,
                     cfg_options=cfg_options, seeds=seeds if seeds is not None else list(data.get("seeds") or []),
                     sampler=sampler, pruner=pruner, trials=args.trials or data.get("trials"))
    if spec.trials is None and spec.grid_size is None:
        raise ConfigError(f"The space has ranges ({', '.join(k for k, d in space.items() if not d.categorical)}): "
                          "give --trials N (or trials=N in the sweep file).")
    return spec


def _storage(args, data_storage: str | None, sweep_dir: Path) -> str:
    from .study import default_storage

    storage = args.storage or data_storage
    if not storage:
        return default_storage(sweep_dir)
    if "://" not in storage:
        return str(Path(storage).resolve())
    return storage


def _target_is_experiment(args) -> None:
    """``aegis sweep EXPERIMENT.py --grid ...``: a positional experiment file (it sets none of a sweep file's keys
    ``space``/``experiment``) is the experiment, as ``--experiment`` would give it."""
    from mmengine.config import Config

    if not args.target or args.target == "report" or args.experiment or not Path(args.target).is_file():
        return
    try:
        keys = set(Config.fromfile(args.target, import_custom_modules=False).keys())
    except Exception:  # noqa: BLE001 (load_sweep_file reports a file that does not load, with its name)
        return
    if not keys & {"space", "experiment", "metric"}:
        args.experiment, args.target = args.target, None


def _base(args) -> dict[str, str] | None:
    pairs = [text.split("=", 1) for text in args.base]
    if any(len(pair) != 2 for pair in pairs):
        raise ConfigError(f"--base {args.base!r}: expected KEY=VALUE, e.g. --base experiment=experiments/vlm_tiny_cpu.py")
    return dict(pairs) or None


def sweep_command(args) -> int:
    """``aegis sweep``: validate every point, then run (or submit) the sweep and write its report."""
    if args.target == "report":
        return report_command(args)
    _target_is_experiment(args)
    if args.report_dir:
        raise ConfigError(f"unexpected argument {args.report_dir!r}; only `aegis sweep report SWEEP_DIR` takes two.")
    from .launch import make_slurm_executor, run_local, submit_slurm, validate_points, write_sweep_json
    from .study import open_storage, open_study

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = build_spec(args)
    count = validate_points(spec, out=sys.stdout)
    if args.dry_run:
        total = spec.grid_size if spec.trials is None else min(spec.trials, spec.grid_size or spec.trials)
        print(f"Dry run: {count} point(s) validated; the sweep would run {total} trial(s)"
              + (f" x {len(spec.seeds)} seeds" if spec.seeds else "") + "; nothing ran.")
        return 0
    sweep_dir = Path(args.root) / spec.name
    data = load_sweep_file(args.target) if args.target else {}
    storage = _storage(args, data.get("storage"), sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if args.executor == "slurm":
        if storage.startswith("sqlite:"):
            submit_slurm(spec, sweep_dir, storage, args.workers)  # raises the SQLite-on-NFS ConfigError
        executor = make_slurm_executor(sweep_dir, args.workers, timeout_min=args.timeout_min,
                                       gpus_per_node=args.gpus_per_node, partition=args.partition, cluster="slurm")
        open_study(spec, open_storage(storage), args.pruner_startup_trials)
        write_sweep_json(spec, sweep_dir, storage)
        jobs = submit_slurm(spec, sweep_dir, storage, args.workers, args.parallel, executor=executor)
        print(f"Submitted {len(jobs)} worker(s): job {jobs[0].job_id.split('_')[0]}; logs in {sweep_dir / 'slurm'}. "
              f"When they finish: aegis sweep report {sweep_dir}")
        return 0
    open_study(spec, open_storage(storage), args.pruner_startup_trials)  # a clash with a stored sweep fails here
    write_sweep_json(spec, sweep_dir, storage)
    print(f"Sweep {spec.name!r}: storage {storage}; trials in {sweep_dir / 'trials'}", flush=True)
    _, stopped = run_local(spec, sweep_dir, storage, parallel=args.parallel, grace_s=args.grace_period,
                           pruner_startup_trials=args.pruner_startup_trials)
    if stopped:
        print("Sweep stopped; running trials saved a checkpoint. Run the same command to continue.", file=sys.stderr)
        return 3
    if not args.no_report:
        _write_report(sweep_dir, _base(args))
    return 0


def _print_report(where, sweep_dir) -> None:
    if isinstance(where, dict):
        names = ", ".join(str(Path(p).relative_to(sweep_dir)) if Path(p).is_relative_to(sweep_dir) else str(p)
                          for p in where.values())
        print(f"Report in {sweep_dir}: {names}")
    else:
        print(f"Report: {where if where is not None else sweep_dir}")


def _write_report(sweep_dir: Path, base: dict[str, str] | None = None) -> None:
    from .report import format_table, load_results, write_report

    try:
        where = write_report(sweep_dir, base)
        print(format_table(load_results(sweep_dir), base))
    except AegisError as exc:
        print(f"The sweep finished but its report failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    _print_report(where, sweep_dir)


def report_command(args) -> int:
    """``aegis sweep report SWEEP_DIR``: write results.csv, summary.md and plots into the sweep dir."""
    if not args.report_dir:
        raise ConfigError("aegis sweep report: give the sweep dir, e.g. aegis sweep report sweeps/my_sweep")
    from .report import format_table, load_results, write_report

    where = write_report(Path(args.report_dir), _base(args))
    print(format_table(load_results(Path(args.report_dir)), _base(args)))
    _print_report(where, Path(args.report_dir))
    return 0


def add_sweep_command(subparsers) -> None:
    """Add ``sweep`` to the ``aegis`` console script's subcommands."""
    parser = subparsers.add_parser("sweep", help="run a hyperparameter sweep or ablation on Optuna, or report one",
                                   description=__doc__, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sweep_arguments(parser)
    parser.set_defaults(func=sweep_command)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``tools/sweep.py`` (the same options as ``aegis sweep``)."""
    parser = argparse.ArgumentParser(prog="tools/sweep.py", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sweep_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``tools/sweep.py``: run :func:`sweep_command`; an AEGIS error prints one line and exits 2."""
    args = build_parser().parse_args(argv)
    try:
        return sweep_command(args)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
