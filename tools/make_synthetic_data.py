"""Write a synthetic video set: H.264 mp4s, captions.json and split files, from a seed.

    python tools/make_synthetic_data.py --out data/synthetic_disaster --num-videos 200 --seed 0 \
        [--size 64] [--frames 32] [--scenes disaster|motion|flow]
    python tools/make_synthetic_data.py --scenes voe --out data/synthetic_voe [--num-pairs 20] [--num-train 700]

``--scenes voe`` writes the violation-of-expectation pairs (pairs.json) and possible-only train/val videos at 32x32,
16 frames unless --size/--frames say otherwise; --num-videos does not apply to it.
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (videos/, captions.json, split files)")
    parser.add_argument("--num-videos", type=int, default=200, help="number of videos (balanced over 6 classes)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives byte-identical files")
    parser.add_argument("--size", type=int, default=None,
                        help="frame height and width in pixels (even; default 64, or 32 for voe)")
    parser.add_argument("--frames", type=int, default=None, help="frames per video (default 32, or 16 for voe)")
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate (physical rates are per second)")
    parser.add_argument("--scenes", default="disaster", choices=["disaster", "motion", "flow", "voe"],
                        help="disaster scenes; motion-only scenes (classes that differ only in how a region moves); "
                             "flow scenes (one grey texture, classes that differ only in how all of it moves); or "
                             "voe: violation-of-expectation pairs (possible vs impossible physics) for surprise tests")
    parser.add_argument("--num-pairs", type=int, default=20, help="voe: test pairs per kind (7 kinds)")
    parser.add_argument("--num-train", type=int, default=700,
                        help="voe: possible-only videos for pretraining and probes, in all (80/20 train/val)")
    args = parser.parse_args(argv)
    voe = args.scenes == "voe"
    size = args.size if args.size is not None else (32 if voe else 64)
    frames = args.frames if args.frames is not None else (16 if voe else 32)

    from aegis.errors import AegisError

    start = time.perf_counter()
    try:
        if voe:
            from aegis_plugins.data.synthetic_voe import VOE_KINDS, generate_voe_dataset
            path = generate_voe_dataset(args.out, num_pairs=args.num_pairs, num_train=args.num_train,
                                        seed=args.seed, size=size, frames=frames, fps=args.fps)
            count = 2 * args.num_pairs * len(VOE_KINDS) + args.num_train
        else:
            from aegis_plugins.data.synthetic import generate_dataset
            path = generate_dataset(args.out, args.num_videos, args.seed, size=size, frames=frames, fps=args.fps,
                                    scenes=args.scenes)
            count = args.num_videos
    except AegisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} videos and {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
