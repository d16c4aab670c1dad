#!/usr/bin/env python
"""Frozen-feature linear probe of a pretrained encoder versus the same encoder randomly initialised.

    python tools/probe.py experiments/vjepa_pretrain_tiny.py [--checkpoint PATH] [--ablation EXPERIMENT_OR_CKPT]

Builds the experiment's ``model.encoder`` frozen three ways: from the run's checkpoint (the EMA target encoder by
default), randomly initialised (averaged over ``--random-seeds`` seeds), and, when its checkpoint exists, from the
no-causality ablation. Each gets a linear probe on pooled features for two targets: the synthetic disaster type
(6 classes), and type x speed (12 classes), which needs the clip's dynamics. The probe is fitted on the train split
and scored on ``--test-splits`` (val and test together by default). Prints the accuracies and merges them into
``<work_dir>/metrics.json``: ``probe/pretrained_acc``, ``probe/random_init_acc``, ``probe/no_causality_acc``,
``probe/pretrained_encoder_acc`` (the checkpoint's other encoder) and
``probe/pixels_acc`` (the same probe on raw pixels, no encoder: the floor) and ``probe/margin_over_random`` with
``probe/margin_ci95`` (its 95% half-width; the margin is clear when it is larger) for the type, and the same under
``probe/type_speed/``.
"""
from __future__ import annotations

import argparse
import os
import sys

DEFAULT_ABLATION = "experiments/ablations/vjepa_tiny_no_causality.py"


def _training_data(cfg) -> tuple:
    """(data_root, scenes) of an experiment's training set: what its checkpoint learned from."""
    dataset = cfg.train_dataloader.dataset
    return dataset.get("data_root"), dataset.get("scenes", "disaster")


def _ablation_checkpoint(path: str | None, cfg) -> tuple[str | None, str]:
    """(checkpoint or None, why none) of the ablation: an experiment file's finished run, or a checkpoint file.

    An ablation experiment that trains on other data than the probed one is not compared (its accuracy would
    say nothing about the causality loss).
    """
    from aegis.config import load_experiment
    from aegis.engine.checkpoint import resolve_checkpoint
    from aegis.errors import CheckpointError

    if not path or not os.path.exists(path):
        return None, f"(no ablation checkpoint found for {path}; run it to compare)"
    if not path.endswith(".py"):
        return (path if os.path.isfile(path) else None), f"(the ablation {path} is not a checkpoint file)"
    ablation_cfg = load_experiment(path, None)
    if _training_data(ablation_cfg) != _training_data(cfg):
        return None, (f"(the ablation {path} trains on {_training_data(ablation_cfg)}, this experiment on "
                      f"{_training_data(cfg)} (data_root, scenes): not compared; pass --ablation with its own "
                      "no-causality experiment)")
    try:
        checkpoint = resolve_checkpoint(ablation_cfg.work_dir)
    except CheckpointError:
        checkpoint = None
    return checkpoint, f"(no ablation checkpoint in {ablation_cfg.work_dir}: run `python tools/run.py {path}`)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", help="the pretraining experiment file (its model.encoder and dataset are used)")
    parser.add_argument("--checkpoint", help="pretrained checkpoint (default: the last one in the run's work_dir)")
    parser.add_argument("--checkpoint-key", default="target_encoder", choices=["target_encoder", "encoder"])
    parser.add_argument("--ablation", default=DEFAULT_ABLATION,
                        help="ablation experiment file or checkpoint to probe too, when its checkpoint exists")
    parser.add_argument("--work-dir", help="where metrics.json goes (default: the experiment's work_dir)")
    parser.add_argument("--test-splits", nargs="+", default=["val", "test"],
                        help="held-out splits the probe is scored on (default: val and test together)")
    parser.add_argument("--pooling", default="time", choices=["mean", "time"])
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    parser.add_argument("--train-repeats", type=int, default=1,
                        help="passes over the probe's train split with the training augmentation (1: centre crops)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-seeds", type=int, default=3,
                        help="random-init encoders to average over (seeds seed, seed+1, ...)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cfg-options", nargs="+", default=None, help="overrides key=value for the experiment")
    args = parser.parse_args(argv)

    import torch

    from aegis import plugins
    from aegis.config import load_experiment
    from aegis.engine import write_metrics_json
    from aegis.engine.progress import ProgressBar
    from aegis.errors import AegisError
    from aegis.engine.checkpoint import resolve_checkpoint
    from aegis_plugins.models.probe import (TARGETS, decode_once, margin_ci95, probe_datasets,
                                            probe_encoder, probe_pixels)

    torch.set_num_threads(args.threads)
    plugins.load()
    try:
        options = dict(o.split("=", 1) for o in args.cfg_options) if args.cfg_options else None
        cfg = load_experiment(args.experiment, options)
        if args.checkpoint:
            checkpoint = resolve_checkpoint(args.checkpoint, "--checkpoint")
        elif os.path.isfile(os.path.join(cfg.work_dir, "last_checkpoint")):
            checkpoint = resolve_checkpoint(cfg.work_dir, "the run's work dir")
        else:
            raise FileNotFoundError(f"no checkpoint in {cfg.work_dir}: run `python tools/run.py {args.experiment}` "
                                    "first, or pass --checkpoint")
        train_set, test_set = probe_datasets(cfg.train_dataloader.dataset, test_splits=args.test_splits,
                                             train_augment=args.train_repeats > 1)
        # every encoder and target reads the same evaluation clips: decode them once (augmented ones each pass)
        train_set = train_set if args.train_repeats > 1 else decode_once(train_set)
        test_set = decode_once(test_set)
        common = dict(pooling=args.pooling, weight_decay=args.weight_decay, train_repeats=args.train_repeats)
        encoder_cfg = cfg.model.encoder
        other_key = "encoder" if args.checkpoint_key == "target_encoder" else "target_encoder"
        ablation_ckpt, no_ablation_note = _ablation_checkpoint(args.ablation, cfg)
        results, lines = {}, []
        # a live bar over the probes (one per encoder and target) on a terminal; nothing elsewhere
        jobs = len(TARGETS) * (3 + args.random_seeds + (ablation_ckpt is not None))
        with ProgressBar(jobs, "probe", unit="probes") as bar:
            def counted(label: str, probe, *probe_args, **probe_kwargs) -> float:
                bar.update(status=label, refresh=True)
                accuracy = probe(*probe_args, **probe_kwargs)
                bar.advance()
                return accuracy

            for target in TARGETS:
                prefix = "probe/" if target == "type" else f"probe/{target}/"
                pretrained = counted(f"{target}: pretrained {args.checkpoint_key}", probe_encoder, encoder_cfg,
                                     train_set, test_set, checkpoint, args.checkpoint_key, seed=args.seed,
                                     target=target, **common)
                randoms = [counted(f"{target}: random init, seed {args.seed + i}", probe_encoder, encoder_cfg,
                                   train_set, test_set, None, seed=args.seed + i, target=target, **common)
                           for i in range(args.random_seeds)]
                results[f"{prefix}pretrained_acc"] = pretrained
                results[f"{prefix}random_init_acc"] = sum(randoms) / len(randoms)
                results[f"{prefix}pretrained_{other_key}_acc"] = counted(
                    f"{target}: pretrained {other_key}", probe_encoder, encoder_cfg, train_set, test_set, checkpoint,
                    other_key, seed=args.seed, target=target, **common)
                classes = len(train_set.classes) * (2 if target == "type_speed" else 1)
                lines.append(f"target {target} ({classes} classes, chance {1 / classes:.3f}):")
                lines.append(f"  pretrained, {args.checkpoint_key} ({os.path.relpath(checkpoint)}): {pretrained:.3f}")
                lines.append(f"  pretrained, {other_key}: {results[f'{prefix}pretrained_{other_key}_acc']:.3f}")
                lines.append(f"  random init (same architecture, mean of {len(randoms)} seeds "
                             f"{', '.join(f'{r:.3f}' for r in randoms)}): {results[f'{prefix}random_init_acc']:.3f}")
                results[f"{prefix}pixels_acc"] = counted(f"{target}: raw pixels", probe_pixels, train_set, test_set,
                                                         args.weight_decay, train_repeats=args.train_repeats,
                                                         seed=args.seed, target=target)
                lines.append(f"  raw pixels, no encoder (the floor): {results[f'{prefix}pixels_acc']:.3f}")
                margin = pretrained - results[f"{prefix}random_init_acc"]
                half_width = margin_ci95(pretrained, results[f"{prefix}random_init_acc"], len(test_set))
                results[f"{prefix}margin_over_random"], results[f"{prefix}margin_ci95"] = margin, half_width
                verdict = "clear" if margin > half_width else "not clear"
                lines.append(f"  margin, pretrained - random init: {margin:+.3f} +/- {half_width:.3f} (95%, "
                             f"{len(test_set)} clips): {verdict}")
                if ablation_ckpt is not None:
                    results[f"{prefix}no_causality_acc"] = counted(
                        f"{target}: without the causality loss", probe_encoder, encoder_cfg, train_set, test_set,
                        ablation_ckpt, args.checkpoint_key, seed=args.seed, target=target, **common)
                    lines.append(f"  pretrained without the causality loss ({os.path.relpath(ablation_ckpt)}): "
                                 f"{results[f'{prefix}no_causality_acc']:.3f}")
    except (AegisError, FileNotFoundError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(f"linear probe ({args.pooling} pooling) on {len(train_set)} train / {len(test_set)} held-out clips "
          f"({' + '.join(args.test_splits)})")
    print("\n".join(lines))
    if ablation_ckpt is None:
        print(f"  {no_ablation_note}")
    path = write_metrics_json(args.work_dir or cfg.work_dir, results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
