#!/usr/bin/env python
"""Measure how often a calibrated captioner abstains, in distribution and on footage unlike its training data:

    python tools/alert_trust_report.py experiments/vlm_tiny_cpu.py [--checkpoint work_dirs/vlm_tiny_cpu]

prints a Markdown table: per footage kind the clips withheld as unrecognised (OOD) or unsure (low confidence), the
abstention rate and, on the val and test splits, the accuracy of all alerts beside that of the kept ones. The
unfamiliar footage is written once under --footage-root (docs/vlm.md, "Alerts that know when they do not know").
"""
import argparse
import sys

from mmengine.config import DictAction

from aegis.errors import AegisError


def main(argv=None) -> int:
    from aegis_plugins.models.alert_trust_report import UNFAMILIAR_KINDS

    parser = argparse.ArgumentParser(description="Abstention of calibrated alerts, in and out of distribution.")
    parser.add_argument("experiment", help="the captioning experiment, e.g. experiments/vlm_tiny_cpu.py")
    parser.add_argument("--checkpoint", help="checkpoint file or work dir (default: the experiment's newest)")
    parser.add_argument("--footage-root", default="data/alert_trust_footage",
                        help="where the unfamiliar footage is written (default: %(default)s)")
    parser.add_argument("--num-clips", type=int, default=60, help="clips per unfamiliar kind (default: 60)")
    parser.add_argument("--kinds", nargs="+", default=list(UNFAMILIAR_KINDS), choices=UNFAMILIAR_KINDS)
    parser.add_argument("--num-beams", type=int, default=None, help="beam width (default: the experiment's)")
    parser.add_argument("--compare-scores", action="store_true",
                        help="also compare k-NN and Mahalanobis OOD scores on mean or (mean, std) pooled features")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default=None, metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        import torch

        from aegis.engine.checkpoint import resolve_checkpoint
        from aegis_plugins.models.alert_trust_report import alert_trust_report

        torch.set_num_threads(min(2, torch.get_num_threads()))
        checkpoint = resolve_checkpoint(args.checkpoint, "--checkpoint") if args.checkpoint else None
        alert_trust_report(args.experiment, checkpoint, args.footage_root, args.num_clips, args.kinds,
                           args.num_beams, args.cfg_options, compare_scores=args.compare_scores)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
