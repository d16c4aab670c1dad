#!/usr/bin/env python
"""Print a trained captioner's alerts for held-out videos beside their reference captions."""
import argparse
import sys

from mmengine.config import DictAction

from aegis import plugins
from aegis.errors import AegisError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("experiment", help="the captioning experiment, e.g. experiments/vlm_tiny_cpu.py")
    parser.add_argument("--checkpoint", help="checkpoint file (default: the newest in the experiment's work dir)")
    parser.add_argument("--split", choices=["val", "test"], default="test")
    parser.add_argument("--num", type=int, default=8, help="how many videos")
    parser.add_argument("--num-beams", type=int, default=None, help="beam width (default: the experiment's)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default=None, metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        plugins.load()
        from aegis_plugins.models.captioner_inference import show_alerts

        show_alerts(args.experiment, args.checkpoint, args.split, args.num, args.cfg_options, args.num_beams)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
