#!/usr/bin/env python
"""Caption one video with a trained video-language checkpoint and print the alert (the guide's inference_vlm.py):

    python tools/infer.py --video clip.mp4 --checkpoint work_dirs/vlm_tiny_cpu/epoch_20.pth \
        [--experiment experiments/vlm_tiny_cpu.py] [--out annotated.mp4] [--num-beams 3]

With the checkpoint's alert calibration (alert_trust.json beside it) the alert is raised only when the footage is
like the training data and the caption confident: `ALERT: ... (confidence c >= t; OOD score s <= t)`, otherwise
`NO ALERT: ...; nothing raised`. Without one the alert is printed marked unchecked, with how to calibrate.

`--surprise PHASE1_CHECKPOINT` also scores the video with a V-JEPA pretraining checkpoint (the second signal): the
surprise curve goes to `--surprise-out DIR` (surprise.csv, surprise.png) and each sudden change is named, as
`aegis surprise VIDEO --checkpoint ...` does. Without `--checkpoint` only the surprise is computed.
"""
import argparse
import os
import sys

from mmengine.config import DictAction

from aegis.errors import AegisError, DataError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Print the generated disaster alert for a video.")
    parser.add_argument("--video", required=True, help="the video file to caption")
    parser.add_argument("--checkpoint", help="a VideoCaptioner checkpoint (.pth) or its work dir")
    parser.add_argument("--experiment", default="experiments/vlm_tiny_cpu.py",
                        help="the experiment the checkpoint was trained with (default: %(default)s)")
    parser.add_argument("--out", default=None, help="also write the video with the alert drawn on it (.mp4)")
    parser.add_argument("--num-beams", type=int, default=None, help="beam search width (default: the experiment's)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                        help="override experiment keys, e.g. model.max_new_tokens=30")
    parser.add_argument("--surprise", metavar="CHECKPOINT", default=None,
                        help="also write the surprise curve of a V-JEPA pretraining checkpoint (file or work dir)")
    parser.add_argument("--surprise-experiment", default="experiments/vjepa_pretrain_tiny.py",
                        help="the experiment of the --surprise checkpoint (default: %(default)s)")
    parser.add_argument("--surprise-out", default=None, help="folder for surprise.csv/png (default: surprise_<video>)")
    args = parser.parse_args(argv)
    if not args.checkpoint and not args.surprise:
        parser.error("give --checkpoint (a captioner) and/or --surprise (a V-JEPA pretraining checkpoint)")
    try:
        import torch

        from aegis_plugins.models.alert_trust import load_alert_trust, trust_file_for
        from aegis_plugins.models.alert_video import write_annotated_video
        from aegis_plugins.models.captioner_inference import judge_video_file, load_captioner
        from aegis.engine.checkpoint import resolve_checkpoint

        torch.set_num_threads(min(2, torch.get_num_threads()))
        if not os.path.isfile(args.video):  # before building anything
            raise DataError(f"--video {args.video!r}: no such file.")
        if args.surprise:
            from aegis_plugins.models.surprise_report import surprise_alert

            surprise_alert(args.video, args.surprise, args.surprise_experiment, args.surprise_out)
        if not args.checkpoint:
            return 0
        checkpoint = resolve_checkpoint(args.checkpoint, "--checkpoint")
        trust = load_alert_trust(checkpoint)  # None when the checkpoint has no calibration
        model, cfg = load_captioner(args.experiment, checkpoint, args.cfg_options or None)
        verdict = judge_video_file(model, cfg, args.video, trust, num_beams=args.num_beams)
        print(verdict.line())
        if trust is None:
            print(f"note: {trust_file_for(checkpoint)} not found, so footage unlike the training data is not "
                  "detected; write it with: python tools/calibrate_alerts.py --experiment "
                  f"{args.experiment} --checkpoint {checkpoint}", file=sys.stderr)
        if args.out and verdict.raised:
            print(f"annotated video: {write_annotated_video(args.video, args.out, verdict.caption)}")
        elif args.out:
            print(f"no annotated video written to {args.out}: no alert was raised")
        return 0
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
