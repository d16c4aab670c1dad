#!/usr/bin/env python
"""Calibrate a trained captioner's alerts (for checkpoints trained before AlertCalibrationHook wrote it):

    python tools/calibrate_alerts.py --experiment experiments/vlm_tiny_cpu.py --checkpoint work_dirs/vlm_tiny_cpu

fits the out-of-distribution reference on the training split's encoder features, sets the OOD and confidence
thresholds on the validation split and writes alert_trust.json beside the checkpoint (docs/vlm.md, "Alerts that know
when they do not know").
"""
import argparse
import sys

from mmengine.config import DictAction

from aegis.errors import AegisError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write alert_trust.json beside a captioner checkpoint.")
    parser.add_argument("--checkpoint", required=True, help="a VideoCaptioner checkpoint (.pth) or its work dir")
    parser.add_argument("--experiment", default="experiments/vlm_tiny_cpu.py",
                        help="the experiment the checkpoint was trained with (default: %(default)s)")
    parser.add_argument("--k", type=int, default=5, help="nearest training clips the OOD score averages over")
    parser.add_argument("--ood-quantile", type=float, default=0.95,
                        help="OOD threshold = this quantile of the validation clips' OOD scores (default: 0.95)")
    parser.add_argument("--confidence-quantile", type=float, default=0.05,
                        help="confidence threshold = this quantile of the validation confidences (default: 0.05)")
    parser.add_argument("--max-reference", type=int, default=1024, help="training clips kept as the OOD reference")
    parser.add_argument("--num-beams", type=int, default=None, help="beam width (default: the experiment's)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        import torch

        from aegis.engine.checkpoint import resolve_checkpoint
        from aegis_plugins.models.alert_trust import calibrate_checkpoint
        from aegis_plugins.models.captioner_inference import load_captioner

        torch.set_num_threads(min(2, torch.get_num_threads()))
        checkpoint = resolve_checkpoint(args.checkpoint, "--checkpoint")
        model, cfg = load_captioner(args.experiment, checkpoint, args.cfg_options or None)
        trust, path = calibrate_checkpoint(model, cfg, checkpoint, experiment=args.experiment, k=args.k,
                                           ood_quantile=args.ood_quantile,
                                           confidence_quantile=args.confidence_quantile,
                                           max_reference=args.max_reference, num_beams=args.num_beams)
        info = trust.info
        print(f"alert calibration written: {path}\n"
              f"  OOD threshold {trust.ood_threshold:.3f}: the {args.ood_quantile:g} quantile of "
              f"{info['num_calibration']} val clips' OOD scores (k={args.k} nearest of {info['num_reference']} "
              f"train clips)\n"
              f"  confidence threshold {trust.confidence_threshold:.3f}: the {args.confidence_quantile:g} quantile "
              f"of their caption confidences")
        return 0
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
