#!/usr/bin/env python
"""Can a policy read the right action from an RL experiment's frozen encoder? A behaviour-cloning probe per head.

    python tools/rl_feature_probe.py [experiments/rl_disaster_vjepa_ppo.py] [--samples 4000] [--steps 300]

Records ``--samples`` stacked frames where a random policy takes the experiment's env, labels each with the action of
the map-knowing ScriptedRescuePolicy, and fits each pooling setting (mean-pooled tokens, concatenated tokens, a
per-token head then concatenated) on the experiment's encoder as loaded (pretrained) and randomly initialised, for
``--steps`` minibatches; prints the held-out accuracy next to the most frequent action's share (the floor). A
setting that stays near the floor is one PPO will struggle with. Takes a minute or two on 2 CPU cores.
"""
import argparse
import sys

from aegis.errors import AegisError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default="experiments/rl_disaster_vjepa_ppo.py")
    parser.add_argument("--samples", type=int, default=4000, help="labelled frames; 3/4 train, 1/4 held out")
    parser.add_argument("--steps", type=int, default=300, help="minibatches of 128 per fit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import numpy as np
        import torch

        from aegis import plugins
        from aegis.config import load_experiment
        from aegis_plugins.policies.feature_probe import HEAD_SETTINGS, behaviour_cloning_accuracy, record_expert_frames

        torch.set_num_threads(1)
        plugins.load()
        cfg = load_experiment(args.experiment)
        policy = cfg.policy
        data = record_expert_frames(cfg.env, args.samples, seed=args.seed,
                                    frame_stack=cfg.train_cfg.get("frame_stack", 1))
        train = args.samples * 3 // 4
        floor = float(np.bincount(data.actions[train:]).max() / (args.samples - train))
        encoder = dict(policy.features_extractor)
        encoders = {"pretrained": encoder, "random init": dict(encoder, checkpoint=None)}
        print(f"{args.experiment}: {args.samples} frames ({train} to fit, {args.samples - train} held out), expert = "
              f"ScriptedRescuePolicy; the most frequent action is {floor:.3f} of the held-out frames")
        print(f"{'head':38s} " + " ".join(f"{name:>12s}" for name in encoders))
        for head_name, head in HEAD_SETTINGS.items():
            accuracies = [behaviour_cloning_accuracy(data, enc, train, resize=policy.get("frame_resize"),
                                                     mean=policy.get("frame_mean"), std=policy.get("frame_std"),
                                                     steps=args.steps, seed=args.seed, **head)
                          for enc in encoders.values()]
            print(f"{head_name:38s} " + " ".join(f"{a:12.3f}" for a in accuracies), flush=True)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
