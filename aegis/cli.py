"""The ``aegis`` console script: run, plugins, print-config, doctor, and subcommands that plugins add."""
from __future__ import annotations

import argparse
import sys

__all__ = ["main", "add_run_arguments", "run_command"]


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tools/run.py`` and ``aegis run``."""
    from mmengine.config import DictAction  # light: mmengine.config does not import torch

    parser.add_argument("experiment", help="experiment file, e.g. experiments/vlm_tiny_cpu.py")
    parser.add_argument("--work-dir", help="where checkpoints, logs and metrics.json go "
                                           "(default: work_dirs/<experiment name>)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                        help="override config keys: model.encoder.depth=4 optim_wrapper.optimizer.lr=1e-4 "
                             "'model.x=[1,2]' flag=True")
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
    parser.add_argument("--local-rank", "--local_rank", type=int, default=0, help=argparse.SUPPRESS)


def _load(args):
    from . import plugins
    from .config import load_experiment

    plugins.load(strict=args.strict_plugins)
    cfg = load_experiment(args.experiment, args.cfg_options, args.work_dir)
    if args.work_dir:
        cfg._work_dir_given = True
    return cfg


def run_command(args) -> int:
    """``aegis run`` / ``tools/run.py``."""
    from .runner import apply_run_options, run

    cfg = _load(args)
    if args.print_config:
        cfg.pop("_work_dir_given", None)
        print(cfg.pretty_text)
        return 0
    apply_run_options(cfg, resume=args.resume, launcher=args.launcher, amp=args.amp, seed=args.seed,
                      deterministic=args.deterministic)
    run(cfg, dry_run=args.dry_run)
    return 0


def _print_config_command(args) -> int:
    cfg = _load(args)
    cfg.pop("_work_dir_given", None)
    print(cfg.pretty_text)
    return 0


def _plugins_command(args) -> int:
    from .plugins import load
    from .registry import COMPONENT_REGISTRIES

    plugin_set = load(strict=args.strict_plugins)
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

    from .build import constructor_parameters
    from .errors import closest

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
        print("  arguments:")
        for arg, param in params.items():
            hint = hints.get(arg, param.annotation)
            hint_text = "" if hint is inspect.Parameter.empty else getattr(hint, "__name__", str(hint))
            hint_text = hint_text.replace("typing.", "")
            default = "(required)" if param.default is inspect.Parameter.empty else f"= {param.default!r}"
            print(f"    {arg}: {hint_text} {default}")
    return 0


def _doctor_command(args) -> int:
    from .doctor import format_report, run_checks

    print(format_report(run_checks()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aegis", description="AEGIS: disaster-response AI from video.")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="train an experiment file (same as tools/run.py)")
    add_run_arguments(run_parser)
    run_parser.set_defaults(func=run_command)
    cfg_parser = sub.add_parser("print-config", help="print an experiment's merged config")
    cfg_parser.add_argument("experiment")
    cfg_parser.add_argument("--cfg-options", nargs="+", default={},
                            action=__import__("mmengine.config", fromlist=["DictAction"]).DictAction)
    cfg_parser.add_argument("--work-dir")
    cfg_parser.add_argument("--strict-plugins", action="store_true")
    cfg_parser.set_defaults(func=_print_config_command)
    plugins_parser = sub.add_parser("plugins", help="list registered components, or describe one")
    plugins_parser.add_argument("name", nargs="?", help="a component name, e.g. VJEPAEncoder")
    plugins_parser.add_argument("--strict-plugins", action="store_true")
    plugins_parser.set_defaults(func=_plugins_command)
    doctor_parser = sub.add_parser("doctor", help="what this machine can run, and what to install")
    doctor_parser.set_defaults(func=_doctor_command)
    from . import plugins
    plugins.manager().hook.aegis_add_commands(subparsers=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import AegisError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
