#!/usr/bin/env python
"""Evaluate an RL checkpoint against a random policy on the same seeded episodes and write an episode video.

    python tools/eval_rl.py --checkpoint work_dirs/rl_disaster_ppo/step_40448.pth --episodes 200
"""
import argparse
import json
import os
import sys

from aegis.errors import AegisError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a step_*.pth written by an RL run")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per policy (default 100)")
    parser.add_argument("--seed", type=int, default=100_000, help="episode i is reset with seed + i")
    parser.add_argument("--deterministic", action="store_true", help="take the most likely action")
    parser.add_argument("--video", default=None,
                        help="video of the trained agent's first episode, .mp4 or .gif (default: next to the "
                             "checkpoint, <name>_episode.mp4); 'none' to skip")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    video = args.video or os.path.splitext(args.checkpoint)[0] + "_episode.mp4"
    try:
        import torch

        from aegis import plugins
        from aegis_plugins.policies.rl_eval import evaluate_checkpoint, format_report

        torch.set_num_threads(1)
        plugins.load()
        metrics = evaluate_checkpoint(args.checkpoint, args.episodes, args.seed, args.deterministic,
                                      video_path=None if video == "none" else video)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        print(f"{args.checkpoint} ({metrics['num_timesteps']} training steps), {args.episodes} episodes on seeds "
              f"{args.seed}..{args.seed + args.episodes - 1}, {'deterministic' if args.deterministic else 'sampled'}"
              " actions:")
        print(format_report(metrics))
        if "video" in metrics:
            print(f"video: {metrics['video']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
