#!/usr/bin/env python
"""Evaluate an RL checkpoint (or a planner) against baselines and reference policies on the same seeded episodes.

    python tools/eval_rl.py --checkpoint work_dirs/rl_disaster_ppo/step_40448.pth --episodes 200
    python tools/eval_rl.py --checkpoint work_dirs/rl_disaster_medium_ppo --baselines random heuristic \
        --reference cnn_small=work_dirs/other_run --episodes 200
    python tools/eval_rl.py --planner work_dirs/some_planner --episodes 200   # the planner against the baselines

One table, a column per policy: success rate, victims rescued and lost, SPL, return, episode length, wall time per
action. Baselines default to random and the map-knowing scripted rescuer ("heuristic") where the env supports it.
"""
import argparse
import json
import os
import sys

from aegis.errors import AegisError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None,
                        help="a step_*.pth written by an RL run, or the run's work dir (its last checkpoint)")
    parser.add_argument("--planner", default=None,
                        help="a planner work dir or checkpoint, loaded by aegis_plugins.policies.planner.load_planner; "
                             "evaluated on its own env when no --checkpoint is given, else as one more reference")
    parser.add_argument("--baselines", nargs="*", default=None,
                        help="baseline policies to compare with (random, heuristic; default: both where the env "
                             "supports them); none: --baselines with no name")
    parser.add_argument("--reference", action="append", default=[], metavar="NAME=CHECKPOINT",
                        help="another RL checkpoint or work dir played on the same episodes (repeatable)")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per policy (default 100)")
    parser.add_argument("--seed", type=int, default=100_000, help="episode i is reset with seed + i")
    parser.add_argument("--deterministic", action="store_true", help="take the most likely action")
    parser.add_argument("--video", default=None,
                        help="video of the evaluated policy's first episode, .mp4 or .gif (default: next to the "
                             "checkpoint, <name>_episode.mp4); 'none' to skip")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    if args.checkpoint is None and args.planner is None:
        parser.error("give --checkpoint (an RL checkpoint or work dir) or --planner (or both)")
    references = {}
    for item in args.reference:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--reference {item!r}: expected NAME=CHECKPOINT, e.g. cnn=work_dirs/rl_disaster_ppo")
        references[name] = path
    try:
        import torch

        from aegis import plugins
        from aegis.engine.checkpoint import resolve_checkpoint
        from aegis_plugins.policies.agent_io import read_checkpoint
        from aegis_plugins.policies.rl_eval import (evaluate_checkpoint, evaluate_players, format_report,
                                                    load_planner_player, load_reference, supported_baselines)

        torch.set_num_threads(1)
        plugins.load()
        refs = {name: load_reference(path, where=f"--reference {name}") for name, path in references.items()}
        planner = load_planner_player(args.planner) if args.planner else None
        if args.checkpoint is not None:
            checkpoint = resolve_checkpoint(args.checkpoint, "--checkpoint")
            main_name, main_player, env_cfg = "trained", None, read_checkpoint(checkpoint)["build"]["env"]
            if planner is not None:
                refs["planner"] = planner
        else:
            checkpoint = None
            main_name, main_player, env_cfg = "planner", planner, planner.env_cfg
        baselines = tuple(args.baselines) if args.baselines is not None else supported_baselines(env_cfg)
        video = args.video or (os.path.splitext(checkpoint)[0] + "_episode.mp4" if checkpoint else "none")
        video = None if video == "none" else video
        if checkpoint is not None:
            metrics = evaluate_checkpoint(checkpoint, args.episodes, args.seed, args.deterministic, video, baselines,
                                          refs)
        else:
            metrics = evaluate_players(main_name, main_player, args.episodes, args.seed, args.deterministic, video,
                                       baselines, refs)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
        return 0
    what = (f"{checkpoint} ({metrics['num_timesteps']} training steps)" if checkpoint else f"planner {args.planner}")
    print(f"{what}, {args.episodes} episodes on seeds {args.seed}..{args.seed + args.episodes - 1}, "
          f"{'deterministic' if args.deterministic else 'sampled'} actions:")
    print(format_report(metrics))
    for name, note in metrics.get("notes", {}).items():
        print(f"  {name}: {note}")
    if "video" in metrics:
        print(f"video: {metrics['video']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
