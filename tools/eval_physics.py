#!/usr/bin/env python
"""Score a V-JEPA checkpoint on violation-of-expectation pairs beside random init and a pixel predictor.

    python tools/eval_physics.py experiments/vjepa_pretrain_tiny_physics.py [--checkpoint PATH|WORK_DIR]
        [--random-seeds 3] [--score max|mean] [--work-dir DIR]

Prints pairwise accuracy and AUROC per violation kind with bootstrap 95% intervals for the three scorers, and merges
them into the run's metrics.json as physics/<scorer>/<kind>/<metric>.
"""
import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", help="the pretraining experiment (its model and val_dataloader's VoE pairs)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file or work dir (default: the run's work dir)")
    parser.add_argument("--random-seeds", type=int, default=3, help="random-init controls (seeds 0..N-1)")
    parser.add_argument("--score", default="max", choices=["max", "mean"], help="a video's score from its curve")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    parser.add_argument("--work-dir", default=None, help="where metrics.json goes (default: the experiment's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import torch

    from aegis.engine import write_metrics_json
    from aegis.errors import AegisError
    from aegis_plugins.models.physics_eval import evaluate_physics, format_physics_table

    torch.set_num_threads(args.threads)
    try:
        options = dict(o.split("=", 1) for o in args.cfg_options) if args.cfg_options else None
        reports = evaluate_physics(args.experiment, args.checkpoint, range(args.random_seeds), args.score,
                                   args.bootstrap, options)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"violation of expectation, surprise = {args.score} over the video; pairwise accuracy [95% interval] "
          "(chance 0.50)")
    print(format_physics_table(reports, "pairwise_acc"))
    print("\nAUROC (single videos, impossible = positive)")
    print(format_physics_table(reports, "auroc"))
    from aegis.config import load_experiment

    work_dir = args.work_dir or load_experiment(args.experiment, options).work_dir
    flat = {f"physics/{name}/{key}": value for name, report in reports.items() for key, value in report.items()}
    print(f"wrote {write_metrics_json(work_dir, flat)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
