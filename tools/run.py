#!/usr/bin/env python
"""Train an AEGIS experiment: ``python tools/run.py experiments/vlm_tiny_cpu.py [options]`` (see --help)."""
import argparse
import sys

from aegis.cli import RUN_EPILOG, add_run_arguments, run_command
from aegis.errors import AegisError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build an experiment's components and run them on an mmengine Runner.",
                                     epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    add_run_arguments(parser)
    args, extra = parser.parse_known_args(argv)
    args.overrides = extra
    try:
        return run_command(args)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
