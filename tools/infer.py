#!/usr/bin/env python
"""Caption one video with a trained video-language checkpoint and print the alert (the guide's inference_vlm.py):

    python tools/infer.py --video clip.mp4 --checkpoint work_dirs/vlm_tiny_cpu/epoch_20.pth \
        [--experiment experiments/vlm_tiny_cpu.py] [--out annotated.mp4] [--num-beams 3]
"""
import argparse
import os
import sys

from mmengine.config import DictAction

from aegis.errors import AegisError, DataError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Print the generated disaster alert for a video.")
    parser.add_argument("--video", required=True, help="the video file to caption")
    parser.add_argument("--checkpoint", required=True, help="a VideoCaptioner checkpoint (.pth) or its work dir")
    parser.add_argument("--experiment", default="experiments/vlm_tiny_cpu.py",
                        help="the experiment the checkpoint was trained with (default: %(default)s)")
    parser.add_argument("--out", default=None, help="also write the video with the alert drawn on it (.mp4)")
    parser.add_argument("--num-beams", type=int, default=None, help="beam search width (default: the experiment's)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                        help="override experiment keys, e.g. model.max_new_tokens=30")
    args = parser.parse_args(argv)
    try:
        import torch

        from aegis_plugins.models.alert_video import write_annotated_video
        from aegis_plugins.models.captioner_inference import caption_video_file, load_captioner
        from aegis.engine.checkpoint import resolve_checkpoint

        torch.set_num_threads(min(2, torch.get_num_threads()))
        if not os.path.isfile(args.video):  # before building anything
            raise DataError(f"--video {args.video!r}: no such file.")
        checkpoint = resolve_checkpoint(args.checkpoint, "--checkpoint")
        model, cfg = load_captioner(args.experiment, checkpoint, args.cfg_options or None)
        alert = caption_video_file(model, cfg, args.video, num_beams=args.num_beams)
        print(f"ALERT: {alert}")
        if args.out:
            print(f"annotated video: {write_annotated_video(args.video, args.out, alert)}")
        return 0
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
