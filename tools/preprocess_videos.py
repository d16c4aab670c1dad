"""Turn a folder of raw videos into fixed-size, fixed-fps, fixed-length clips plus a captions JSON.

    python tools/preprocess_videos.py --input-dir RAW --output-dir OUT [--size 224] [--fps 8] [--clip-frames 32]
        [--stride N] [--captioner '{"type": "OpenAIChatCaptioner", "model": "gpt-4o"}']

Captions are empty unless --captioner names a CAPTIONERS entry as JSON (its key and URL may come from
OPENAI_API_KEY / OPENAI_BASE_URL). Then check the result with `aegis data check OUT/captions.json`.
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", required=True, help="folder of raw videos (searched recursively; a sub-folder "
                                                           "name becomes the clip's class_name)")
    parser.add_argument("--output-dir", required=True, help="where clips/ and captions.json go")
    parser.add_argument("--size", type=int, default=224, help="clip height and width (shorter side, centre crop)")
    parser.add_argument("--fps", type=float, default=8.0, help="output frame rate")
    parser.add_argument("--clip-frames", type=int, default=32, help="frames per clip")
    parser.add_argument("--stride", type=int, default=None, help="output frames between clip starts (default: "
                                                                 "clip-frames, no overlap)")
    parser.add_argument("--captioner", default=None, help='a CAPTIONERS config as JSON, e.g. \'{"type": '
                                                          '"OpenAIChatCaptioner", "model": "gpt-4o"}\'')
    parser.add_argument("--on-error", choices=["skip", "raise"], default="skip", help="an unreadable input video")
    args = parser.parse_args(argv)

    from aegis import plugins
    from aegis.build import build_component
    from aegis.errors import AegisError
    from aegis.registry import CAPTIONERS
    from aegis_plugins.data.preprocess import preprocess_videos

    try:
        captioner = None
        if args.captioner:
            try:
                cfg = json.loads(args.captioner)
            except json.JSONDecodeError as exc:
                print(f"error: --captioner is not valid JSON ({exc})", file=sys.stderr)
                return 2
            plugins.load()
            captioner = build_component(cfg, CAPTIONERS, path="--captioner")
        path = preprocess_videos(args.input_dir, args.output_dir, size=args.size, fps=args.fps,
                                 clip_frames=args.clip_frames, stride=args.stride, captioner=captioner,
                                 on_error=args.on_error)
    except AegisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
