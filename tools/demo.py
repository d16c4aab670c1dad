#!/usr/bin/env python
"""The embedded default, end to end (``make demo``): every phase at tiny size on CPU, each printed beside a control.

1. synthetic disaster videos; 2. phase 1: tiny V-JEPA pretraining, then a frozen-feature probe against a random
encoder of the same size and raw pixels, on the disaster scenes (where pixels already name the type) and on the flow
scenes (where they do not, and pretraining shows a clear margin); 3. phase 2: tiny LM text pretraining, then the
video captioner, then generated alerts for held-out videos beside their references; 4. phase 3: PPO on the easy
disaster environment against a random policy. Steps whose outputs exist are reused (``--fresh`` redoes them);
outputs go to data/ and work_dirs/.
"""
import argparse
import sys

from aegis.engine import read_metrics_json
from aegis.errors import AegisError
from aegis.demo import Step, run_steps

STEPS = [
    Step("Synthetic disaster videos (200 clips, 6 classes)",
         ["python", "tools/make_synthetic_data.py", "--out", "data/synthetic_disaster", "--num-videos", "200",
          "--seed", "0"], creates="data/synthetic_disaster/captions.json"),
    Step("Phase 1: pretrain the tiny V-JEPA encoder",
         ["python", "tools/run.py", "experiments/vjepa_pretrain_tiny.py"],
         creates="work_dirs/vjepa_pretrain_tiny/last_checkpoint"),
    Step("Phase 1 check: frozen-feature probe, pretrained vs random encoder vs raw pixels",
         ["python", "tools/probe.py", "experiments/vjepa_pretrain_tiny.py"]),
    Step("Phase 1 on the flow scenes (1200 clips of one moving grey texture): pretrain the tiny V-JEPA encoder",
         ["python", "tools/run.py", "experiments/vjepa_pretrain_tiny_flow.py"],
         creates="work_dirs/vjepa_pretrain_tiny_flow/last_checkpoint"),
    Step("Phase 1 check on the flow scenes: probe, pretrained vs random encoder vs raw pixels",
         ["python", "tools/probe.py", "experiments/vjepa_pretrain_tiny_flow.py", "--ablation", "none"]),
    Step("Phase 2a: pretrain the tiny language model on caption text",
         ["python", "tools/run.py", "experiments/lm_pretrain_tiny.py"],
         creates="work_dirs/lm_pretrain_tiny/last_checkpoint"),
    Step("Phase 2b: train the Q-Former captioner (frozen encoder, frozen LM)",
         ["python", "tools/run.py", "experiments/vlm_tiny_cpu.py"], creates="work_dirs/vlm_tiny_cpu/last_checkpoint"),
    Step("Phase 2 result: alerts for held-out videos",
         ["python", "tools/show_alerts.py", "experiments/vlm_tiny_cpu.py", "--num", "8"]),
    Step("Phase 3: PPO agent on the easy disaster environment (evaluated against a random policy)",
         ["python", "tools/run.py", "experiments/rl_disaster_ppo.py"],
         creates="work_dirs/rl_disaster_ppo/last_checkpoint"),
]

# (work dir, metrics.json key, label) printed in the closing summary when present
SUMMARY = [
    ("work_dirs/vjepa_pretrain_tiny", "probe/pretrained_acc", "phase 1 probe, disaster type, pretrained"),
    ("work_dirs/vjepa_pretrain_tiny", "probe/random_init_acc", "phase 1 probe, disaster type, random encoder"),
    ("work_dirs/vjepa_pretrain_tiny", "probe/pixels_acc", "phase 1 probe, disaster type, raw pixels"),
    ("work_dirs/vjepa_pretrain_tiny_flow", "probe/pretrained_acc", "phase 1 probe, flow class, pretrained"),
    ("work_dirs/vjepa_pretrain_tiny_flow", "probe/random_init_acc", "phase 1 probe, flow class, random encoder"),
    ("work_dirs/vjepa_pretrain_tiny_flow", "probe/pixels_acc", "phase 1 probe, flow class, raw pixels"),
    ("work_dirs/vjepa_pretrain_tiny_flow", "probe/margin_ci95", "phase 1 probe, flow class, 95% half-width"),
    ("work_dirs/vlm_tiny_cpu", "test/disaster/type_acc", "phase 2 disaster-type accuracy (test)"),
    ("work_dirs/vlm_tiny_cpu", "test/disaster/dynamics_acc", "phase 2 dynamics accuracy (test)"),
    ("work_dirs/vlm_tiny_cpu", "test/caption/bleu4", "phase 2 BLEU-4 (test)"),
    ("work_dirs/vlm_tiny_cpu", "test/caption/cider", "phase 2 CIDEr (test)"),
    ("work_dirs/rl_disaster_ppo", "eval/success_rate", "phase 3 success rate, trained PPO"),
    ("work_dirs/rl_disaster_ppo", "eval/random_success_rate", "phase 3 success rate, random policy"),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="redo every step even when its outputs exist")
    args = parser.parse_args(argv)
    try:
        timings = run_steps(STEPS, fresh=args.fresh)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\n=== AEGIS demo summary ===")
    for work_dir, key, label in SUMMARY:
        value = read_metrics_json(work_dir).get(key)
        if value is not None:
            print(f"  {label:<48} {value:.3f}" if isinstance(value, float) else f"  {label:<48} {value}")
    print("  step times: " + ", ".join(f"{title.split(':')[0]} {seconds:.0f}s" for title, seconds in timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
