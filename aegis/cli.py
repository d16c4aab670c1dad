"""The ``aegis`` console script: run, sweep, compare, plugins, print-config, doctor, and plugins' subcommands."""
from __future__ import annotations

import argparse
import sys

__all__ = ["main", "add_run_arguments", "run_command"]


RUN_EPILOG = """overrides: after the experiment, any of KEY=VALUE, --KEY=VALUE, --KEY VALUE or a .json file of
{"KEY": VALUE} (what sweep agents send: W&B's ${args}, ${args_no_hyphens}, ${args_json_file}).
Values are literals: 1e-4 (float), 16 (int), [1,2] (list), true/false, None.
exit status: 0 finished, 1 crashed, 2 configuration error, 3 stopped by SIGTERM/SIGINT (checkpoint saved)."""


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tools/run.py`` and ``aegis run``; other tokens are overrides (see ``RUN_EPILOG``)."""
    from .overrides import OverridesAction

    parser.add_argument("experiment", help="experiment file, e.g. experiments/vlm_tiny_cpu.py")
    parser.add_argument("--work-dir", help="where checkpoints, logs, metrics.json and result.json go "
                                           "(default: work_dirs/<experiment name>)")
    parser.add_argument("--cfg-options", nargs="+", action=OverridesAction, default={}, metavar="KEY=VALUE",
                        help="override config keys: model.encoder.depth=4 optim_wrapper.optimizer.lr=1e-4 "
                             "'model.x=[1,2]' flag=True (or a .json file of them)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="auto|PATH",
                        help="resume from the newest good checkpoint in the work dir (auto) or from PATH")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none",
                        help="distributed launcher (torchrun: pytorch)")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision: AmpOptimWrapper (fp16) on a GPU, bf16 autocast on CPU")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--deterministic", action="store_true", help="deterministic algorithms (cudnn etc.)")
    parser.add_argument("--dry-run", action="store_true",
                        help="build every component, run one training iteration, exit 0")
    parser.add_argument("--print-config", action="store_true", help="print the merged config and exit")
    parser.add_argument("--strict-plugins", action="store_true", help="a plugin that fails to load is fatal")
    parser.add_argument("--with-upstream", action="store_true",
                        help="first build the runs this experiment's `upstream` entries need (once, shared)")
    parser.add_argument("--upstream-root", default="work_dirs", metavar="DIR",
                        help="where upstream runs are found and built (default: work_dirs)")
    parser.add_argument("--local-rank", "--local_rank", type=int, default=0, help=argparse.SUPPRESS)


def _take_overrides_from_resume(args) -> None:
    """``--resume lr=1e-4``: argparse hands the override to --resume's optional PATH; give it back to the overrides."""
    import os

    value = getattr(args, "resume", None)
    if value not in (None, "auto") and not os.path.isfile(value) and ("=" in value or value.endswith(".json")):
        args.resume = "auto"
        args.overrides = [value, *getattr(args, "overrides", [])]


def _overrides(args) -> dict:
    """``--cfg-options`` merged with the override tokens after the experiment (those win)."""
    from .overrides import parse_override_tokens

    return {**(getattr(args, "cfg_options", None) or {}), **parse_override_tokens(getattr(args, "overrides", []))}


def _load(args):
    from . import plugins
    from .config import load_experiment

    plugins.load(strict=args.strict_plugins)
    cfg = load_experiment(args.experiment, _overrides(args), args.work_dir,
                          upstream_root=getattr(args, "upstream_root", "work_dirs"))
    if args.work_dir:
        cfg._work_dir_given = True
    return cfg


def run_command(args) -> int:
    """``aegis run`` / ``tools/run.py``: the exit status is 0 finished, 1 crashed, 2 config error, 3 stopped."""
    import traceback

    from .api import (EXIT_CRASHED, EXIT_FINISHED, EXIT_STOPPED, run_experiment, upstream_error,
                      validate_before_upstream)
    from .errors import AegisError
    from .secrets import redact
    from .upstream import UpstreamError, build_upstream, missing_upstream

    _take_overrides_from_resume(args)
    cfg = _load(args)
    if args.print_config:
        cfg.pop("_work_dir_given", None)
        print(redact(cfg).pretty_text)
        return 0
    validate_before_upstream(cfg, args.upstream_root)
    if missing_upstream(cfg):
        if not args.with_upstream:
            raise upstream_error(cfg, args.upstream_root)
        try:
            build_upstream(cfg, args.upstream_root)
        except UpstreamError as exc:
            print(f"UpstreamError: {exc}", file=sys.stderr)
            return EXIT_CRASHED
    result, error = run_experiment(cfg, experiment=args.experiment, overrides=_overrides(args), resume=args.resume,
                                   launcher=args.launcher, amp=args.amp, seed=args.seed,
                                   deterministic=args.deterministic, dry_run=args.dry_run)
    if error is not None:
        if isinstance(error, KeyboardInterrupt):
            raise error
        if isinstance(error, AegisError):
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
        else:
            traceback.print_exception(error)
        print(f"Run failed; result.json in {cfg.work_dir} records it.", file=sys.stderr)
        return EXIT_CRASHED
    if result is not None and result["status"] == "diverged":
        print(f"RunDiverged: {result['message']}", file=sys.stderr)
        return EXIT_CRASHED
    if result is not None and result["status"] != "finished":
        print(f"{result['message']} Resume with: {_resume_command(args, cfg.work_dir)}", file=sys.stderr)
        return EXIT_STOPPED
    return EXIT_FINISHED


def _resume_command(args, work_dir: str) -> str:
    import shlex

    from .overrides import format_value

    tokens = ["python", "tools/run.py", args.experiment, "--work-dir", work_dir, "--resume"]
    from .secrets import redact

    tokens += [f"{key}={format_value(value)}" for key, value in redact(_overrides(args)).items()]
    for flag, value in (("--seed", args.seed), ("--launcher", None if args.launcher == "none" else args.launcher)):
        if value is not None:
            tokens += [flag, str(value)]
    tokens += [flag for flag, on in (("--amp", args.amp), ("--deterministic", args.deterministic)) if on]
    return " ".join(shlex.quote(token) for token in tokens)


def _print_config_command(args) -> int:
    from .secrets import redact

    cfg = _load(args)
    cfg.pop("_work_dir_given", None)
    print(redact(cfg).pretty_text)
    return 0


def _plugins_command(args) -> int:
    from .plugins import load
    from .registry import COMPONENT_REGISTRIES

    plugin_set = load(strict=args.strict_plugins)
    if args.markdown:
        from .reference import component_reference
        print(component_reference(plugin_set), end="")
        return 0
    if args.name:
        return _describe(plugin_set, args.name)
    for constant in COMPONENT_REGISTRIES:
        infos = sorted((i for i in plugin_set.components.values() if i.registry == constant), key=lambda i: i.name)
        if not infos:
            continue
        print(f"{constant} ({len(infos)})")
        width = max(len(i.name) for i in infos)
        for info in infos:
            print(f"  {info.name.ljust(width)}  [{info.plugin}]  {info.summary}")
    for name, error in plugin_set.failed.items():
        print(f"FAILED plugin {name}: {error}")
    return 0


def _describe(plugin_set, name: str) -> int:
    import inspect

    from .build import constructor_parameters, injected_arguments
    from .errors import closest
    from .reference import argument_default, type_text

    matches = [i for i in plugin_set.components.values() if i.name == name]
    if not matches:
        names = sorted({i.name for i in plugin_set.components.values()})
        near = closest(name, names)
        print(f"No component named {name!r}." + (f" Did you mean {', '.join(near)}?" if near else ""),
              file=sys.stderr)
        return 2
    for info in matches:
        print(f"{info.name}  ({info.registry}, plugin {info.plugin}, {info.distribution})")
        print("  " + (inspect.getdoc(info.obj) or "(no docstring)").replace("\n", "\n  "))
        params, _, hints = constructor_parameters(info.obj)
        injected = injected_arguments(info.obj)
        print("  arguments:")
        for arg, param in params.items():
            hint = type_text(hints.get(arg, param.annotation))
            default = argument_default(param, arg in injected)
            default = f"({default})" if param.default is inspect.Parameter.empty else f"= {default}"
            print(f"    {arg}: {hint} {default}" if hint else f"    {arg} {default}")
    return 0


def _compare_command(args) -> int:
    from .compare import compare_runs

    print(compare_runs(args.runs, args.out))
    return 0


def _doctor_command(args) -> int:
    from .doctor import format_report, run_checks

    print(format_report(run_checks()))
    return 0


BUILTIN_COMMANDS = ("run", "print-config", "plugins", "compare", "doctor", "sweep")


def build_parser(plugin_commands: bool = True) -> argparse.ArgumentParser:
    """The ``aegis`` parser; ``plugin_commands=False`` leaves out the plugins' subcommands (``aegis_add_commands``),
    whose hooks load every plugin: ``aegis run --help`` and a configuration error stay fast."""
    parser = argparse.ArgumentParser(prog="aegis", description="AEGIS: disaster-response AI from video.",
                                     allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="train an experiment file (same as tools/run.py)", allow_abbrev=False,
                                epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(run_parser)
    run_parser.set_defaults(func=run_command)
    cfg_parser = sub.add_parser("print-config", help="print an experiment's merged config")
    cfg_parser.add_argument("experiment")
    cfg_parser.add_argument("--cfg-options", nargs="+", default={},
                            action=__import__("aegis.overrides", fromlist=["OverridesAction"]).OverridesAction)
    cfg_parser.add_argument("--work-dir")
    cfg_parser.add_argument("--strict-plugins", action="store_true")
    cfg_parser.set_defaults(func=_print_config_command)
    plugins_parser = sub.add_parser("plugins", help="list registered components, or describe one")
    plugins_parser.add_argument("name", nargs="?", help="a component name, e.g. VJEPAEncoder")
    plugins_parser.add_argument("--strict-plugins", action="store_true")
    plugins_parser.add_argument("--markdown", action="store_true",
                                help="print the component reference (docs/components.md) generated from the code")
    plugins_parser.set_defaults(func=_plugins_command)
    compare_parser = sub.add_parser("compare", help="compare runs: metrics table, config differences, curves PNG")
    compare_parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="work dirs of runs (with result.json)")
    compare_parser.add_argument("--out", default="compare.png", help="where the overlaid curves go")
    compare_parser.set_defaults(func=_compare_command)
    doctor_parser = sub.add_parser("doctor", help="what this machine can run, and what to install")
    doctor_parser.set_defaults(func=_doctor_command)
    from .sweep.cli import add_sweep_command
    add_sweep_command(sub)
    if plugin_commands:
        from . import plugins
        plugins.manager().hook.aegis_add_commands(subparsers=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import AegisError

    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(plugin_commands=command not in BUILTIN_COMMANDS)
    args, extra = parser.parse_known_args(argv)
    if extra and args.func is not run_command:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    try:
        return int(args.func(args) or 0)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
