"""Write the synthetic disaster video set: H.264 mp4s, captions.json and train/val/test splits, from a seed.

    python tools/make_synthetic_data.py --out data/synthetic_disaster --num-videos 200 --seed 0 \
        [--size 64] [--frames 32]
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (videos/, captions.json, {train,val,test}.json)")
    parser.add_argument("--num-videos", type=int, default=200, help="number of videos (balanced over 6 classes)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives byte-identical files")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels (even)")
    parser.add_argument("--frames", type=int, default=32, help="frames per video")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate (physical rates are per second)")
    parser.add_argument("--scenes", default="disaster", choices=["disaster", "motion", "flow"],
                        help="disaster scenes; motion-only scenes (classes that differ only in how a region moves); "
                             "or flow scenes (one grey texture, classes that differ only in how all of it moves)")
    args = parser.parse_args(argv)

    from aegis.errors import AegisError
    from aegis_plugins.data.synthetic import generate_dataset

    start = time.perf_counter()
    try:
        path = generate_dataset(args.out, args.num_videos, args.seed, size=args.size, frames=args.frames,
                                fps=args.fps, scenes=args.scenes)
    except AegisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.num_videos} videos and {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
