#!/usr/bin/env python
"""Write encoder features for a list of videos.

    python tools/extract_features.py ENCODER_CONFIG.py --videos captions.json --out feats.npz \
        [--encoder-key model.encoder] [--checkpoint ckpt.pth.tar --checkpoint-key target_encoder] \
        [--cfg-options k=v ...] [--video-length 16] [--img-size 224] [--batch-size 8] [--device cpu]

ENCODER_CONFIG.py holds ``encoder = dict(type="VJEPAEncoder", ...)`` (or an experiment file: ``model.encoder`` is
used). Videos: a caption JSON, a text file with one path a line, or a folder. Output: .npz or .safetensors with
``features`` (V, N, D) or (V, D) and the video paths in the same order.
"""
import argparse
import sys

from mmengine.config import DictAction

from aegis.errors import AegisError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="Python config file with the encoder dict (or an experiment file)")
    parser.add_argument("--videos", required=True, help="caption JSON, text file of paths, or folder")
    parser.add_argument("--out", required=True, help="output file, .npz or .safetensors")
    parser.add_argument("--encoder-key", default=None, help="dotted path of the encoder dict in the config")
    parser.add_argument("--checkpoint", default=None, help="weights to load (sets the encoder's `checkpoint`)")
    parser.add_argument("--checkpoint-key", default=None, help="state dict inside the checkpoint, e.g. encoder")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default=None, help="override config keys")
    parser.add_argument("--video-length", type=int, default=None, help="frames per clip (default: the encoder's)")
    parser.add_argument("--img-size", type=int, default=None, help="crop size (default: the encoder's)")
    parser.add_argument("--frame-sample-rate", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    try:
        import torch

        from aegis import plugins
        from aegis.build import build_component
        from aegis.registry import ENCODERS
        from aegis_plugins.encoders import features as F

        F.check_output_path(args.out)
        torch.set_num_threads(args.threads)
        plugins.load()
        cfg = F.load_encoder_config(args.config, args.encoder_key, args.cfg_options)
        if args.checkpoint:
            cfg["checkpoint"] = args.checkpoint
        if args.checkpoint_key:
            cfg["checkpoint_key"] = None if args.checkpoint_key.lower() == "none" else args.checkpoint_key
        encoder = build_component(cfg, ENCODERS, path="encoder").to(args.device)
        videos = F.list_videos(args.videos)
        pipeline = F.build_clip_pipeline(encoder, args.video_length, args.img_size, args.frame_sample_rate)
        feats = F.extract_features(encoder, videos, pipeline, args.batch_size)
        F.save_features(args.out, feats, videos, meta=dict(encoder=cfg, shape=list(feats.shape)))
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: features {tuple(feats.shape)} for {len(videos)} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
