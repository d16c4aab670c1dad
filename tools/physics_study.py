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


def _voe_by_kind(metrics: dict, metric: str) -> dict[str, float]:
    """{kind: final value} of ``val/voe/<kind>/<metric>`` in a run's result.json metrics."""
    out = {}
    for key, entry in metrics.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[:2] == ["val", "voe"] and parts[3] == metric and entry.get("final") is not None:
            out[parts[2]] = float(entry["final"])
    return out


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
    from aegis.sweep.report import load_results, t_interval
    from aegis_plugins.models.probe import decode_once, probe_datasets, probe_encoder

    torch.set_num_threads(args.threads)
    plugins.load()
    try:
        results = load_results(Path(args.sweep_dir))
        probe_sets = None
        if args.probe_experiment != "none":
            probe_cfg = load_experiment(args.probe_experiment, None)
            train_set, test_set = probe_datasets(probe_cfg.train_dataloader.dataset)
            probe_sets = decode_once(train_set), decode_once(test_set)
        rows, kinds = [], set()
        for trial in sorted(results.trials, key=lambda t: [str(t.params.get(k)) for k in results.param_keys]):
            per_seed, probes = [], []
            for run in trial.runs:
                if not run.get("result") or run.get("status") not in (None, "finished", "complete", "COMPLETE"):
                    continue
                values = _voe_by_kind(run["result"].get("metrics", {}), args.metric)
                if not values:
                    continue
                per_seed.append(values)
                kinds |= set(values) - {"all"}
                if probe_sets is not None:
                    cfg = load_experiment(run["result"]["experiment"], run["result"].get("overrides") or None)
                    checkpoint = resolve_checkpoint(str(run["path"]), "run work dir")
                    probes.append(probe_encoder(cfg.model.encoder, *probe_sets, checkpoint, "target_encoder",
                                                pooling="time", weight_decay=1e-2))
            rows.append(dict(params=trial.params, runs=len(per_seed), voe=per_seed, probe=probes))
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    columns = sorted(kinds) + ["all"]

    def cell(values: list[float]) -> str:
        if not values:
            return "-"
        mean, half = t_interval(values)
        return f"{mean:.2f}" + (f" ± {half:.2f}" if half is not None else "")

    keys = list(results.param_keys)
    header = "| " + " | ".join(keys + [f"{c}" for c in columns] + ["probe", "seeds"]) + " |"
    probe_note = ("no probe" if probe_sets is None else
                  f"probe: linear probe accuracy of the frozen target encoder on {args.probe_experiment}'s scenes")
    lines = [f"VoE {args.metric} (mean ± 95% t-interval over seeds; chance 0.50); {probe_note}", "", header,
             "|" + "---|" * (len(keys) + len(columns) + 2)]
    for row in rows:
        cells = [str(row["params"].get(k)) for k in keys]
        cells += [cell([seed[c] for seed in row["voe"] if c in seed]) for c in columns]
        cells += [cell(row["probe"]), str(row["runs"])]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.sweep_dir)
    atomic_write_text(table + "\n", out / "physics_study.md")
    atomic_write_text(json.dumps(rows, indent=1, default=str) + "\n", out / "physics_study.json")
    print(f"wrote {out / 'physics_study.md'} and physics_study.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
