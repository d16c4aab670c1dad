#!/usr/bin/env python
"""Tabulate a physics sweep: VoE pairwise accuracy per violation kind and a frozen probe, mean and 95% interval
over seeds, one row per point of the sweep (e.g. the causality-loss weight).

    python tools/sweep.py experiments/sweeps/physics_causality.py --parallel 2     # the runs
    python tools/physics_study.py sweeps/physics_causality                           # this table

The VoE numbers are each run's final validation metrics (result.json: val/voe/<kind>/pairwise_acc). The probe is a
linear probe of the run's frozen target encoder on another scene set (default: the flow scenes of
experiments/vjepa_pretrain_tiny_flow.py, six motion classes that raw pixels do not separate), decoded once for all
runs. Writes physics_study.md and physics_study.json into the sweep dir.
"""
import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", help="the sweep's directory, sweeps/<name>")
    parser.add_argument("--metric", default="pairwise_acc", choices=["pairwise_acc", "auroc"])
    parser.add_argument("--probe-experiment", default="experiments/vjepa_pretrain_tiny_flow.py",
                        help="experiment whose train/val+test splits the probe uses; 'none' to skip the probe")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from aegis import plugins
    from aegis.config import load_experiment
    from aegis.engine.checkpoint import atomic_write_text, resolve_checkpoint
    from aegis.errors import AegisError
    from aegis.sweep.report import load_results
    from aegis_plugins.models.physics_eval import format_study_table, study_rows
    from aegis_plugins.models.probe import decode_once, probe_datasets, probe_encoder

    torch.set_num_threads(args.threads)
    plugins.load()
    try:
        results = load_results(Path(args.sweep_dir))
        probe_fn = None
        if args.probe_experiment != "none":
            probe_cfg = load_experiment(args.probe_experiment, None)
            train_set, test_set = probe_datasets(probe_cfg.train_dataloader.dataset)
            probe_sets = decode_once(train_set), decode_once(test_set)

            def probe_run(run: dict) -> float:
                """The frozen target encoder of one run, linearly probed on the probe experiment's scenes."""
                cfg = load_experiment(run["result"]["experiment"], run["result"].get("overrides") or None)
                checkpoint = resolve_checkpoint(str(run["path"]), "run work dir")
                return probe_encoder(cfg.model.encoder, *probe_sets, checkpoint, "target_encoder", pooling="time",
                                     weight_decay=1e-2)

            probe_fn = probe_run
        rows = study_rows(results.trials, results.param_keys, args.metric, probe_fn)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    probe_note = ("no probe" if probe_fn is None else
                  f"probe: linear probe accuracy of the frozen target encoder on {args.probe_experiment}'s scenes")
    table = (f"VoE {args.metric} (mean ± 95% t-interval over seeds; chance 0.50); {probe_note}\n\n"
             + format_study_table(rows, list(results.param_keys)))
    print(table)
    out = Path(args.sweep_dir)
    atomic_write_text(table + "\n", out / "physics_study.md")
    atomic_write_text(json.dumps(rows, indent=1, default=str) + "\n", out / "physics_study.json")
    print(f"wrote {out / 'physics_study.md'} and physics_study.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
