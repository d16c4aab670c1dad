#!/usr/bin/env python
"""The embedded default, end to end (``make demo``): every phase at tiny size on CPU, each printed beside a control.

1. synthetic disaster videos; 2. phase 1: tiny V-JEPA pretraining, then a frozen-feature probe against a random
encoder of the same size and raw pixels, on the disaster scenes (where pixels already name the type) and on the flow
scenes (where they do not, so the probe shows what pretraining adds over a random encoder); 3. phase 2: tiny LM text
pretraining, then the video captioner, then generated alerts for held-out videos beside their references; 4. phase 3:
PPO on the easy disaster environment against a random policy. Steps whose outputs exist are reused (``--fresh``
redoes them); outputs go to data/ and work_dirs/. The summary prints each phase's result beside its control and ends
with the path of one figure of all three phases (work_dirs/demo_summary.png): training curves, results beside
controls.
"""
import argparse
import sys

from aegis.demo import (Curve, CurvePanel, Phase, Result, Step, constant_answer_accuracy, run_steps, summary_figure,
                        summary_lines)
from aegis.errors import AegisError

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

SUMMARY_FIGURE = "work_dirs/demo_summary.png"
DISASTER, FLOW = "work_dirs/vjepa_pretrain_tiny", "work_dirs/vjepa_pretrain_tiny_flow"
LM, CAPTIONER, PPO = "work_dirs/lm_pretrain_tiny", "work_dirs/vlm_tiny_cpu", "work_dirs/rl_disaster_ppo"
CAPTIONS = "data/synthetic_disaster/captions.json"


def phases() -> list[Phase]:
    """What the closing summary prints and draws: each phase's training curves and its results beside controls."""
    probe = []
    for scenes, work_dir in (("disaster scenes", DISASTER), ("flow scenes", FLOW)):
        probe += [Result("pretrained encoder", work_dir, "probe/pretrained_acc", scenes),
                  Result("random encoder", work_dir, "probe/random_init_acc", scenes, control=True),
                  Result("raw pixels", work_dir, "probe/pixels_acc", scenes, control=True)]
    return [
        Phase("Phase 1 (observe): tiny V-JEPA pretraining, then a linear probe on its frozen features",
              [CurvePanel("V-JEPA loss, disaster scenes", [Curve(DISASTER, "train/loss", "loss")]),
               CurvePanel("V-JEPA loss, flow scenes", [Curve(FLOW, "train/loss", "loss")])],
              probe, "probe accuracy (val + test videos)",
              notes=[Result("flow margin over random", FLOW, "probe/margin_over_random"),
                     Result("95% half-width", FLOW, "probe/margin_ci95")]),
        Phase("Phase 2 (describe): tiny LM on caption text, then the Q-Former captioner (frozen encoder and LM)",
              [CurvePanel("LM pretraining loss (caption text)", [Curve(LM, "train/loss", "loss")]),
               CurvePanel("captioner training loss", [Curve(CAPTIONER, "train/loss", "loss")])],
              [Result("captioner", CAPTIONER, "test/disaster/type_acc", "disaster type"),
               Result("one alert for all", group="disaster type", control=True,
                      value=constant_answer_accuracy(CAPTIONS, "test", "class_name")),
               Result("captioner", CAPTIONER, "test/disaster/dynamics_acc", "fast / slow"),
               Result("one alert for all", group="fast / slow", control=True,
                      value=constant_answer_accuracy(CAPTIONS, "test", "speed"))],
              "alert accuracy (test videos)",
              notes=[Result("BLEU-4", CAPTIONER, "test/caption/bleu4"),
                     Result("CIDEr", CAPTIONER, "test/caption/cider")]),
        Phase("Phase 3 (act): PPO on the easy disaster environment",
              [CurvePanel("episode return (training rollouts)", [Curve(PPO, "train/ep_return", "return")],
                          xlabel="env step"),
               CurvePanel("success rate", [Curve(PPO, "train/success_rate", "training rollouts"),
                                           Curve(PPO, "eval/success_rate", "evaluation")], xlabel="env step")],
              [Result("trained PPO", PPO, "eval/success_rate"),
               Result("random policy", PPO, "eval/random_success_rate", control=True)],
              "success rate (evaluation episodes)"),
    ]


def summarize(timings: list[tuple[str, float]], figure: str = SUMMARY_FIGURE) -> None:
    """Print the results beside their controls and the step times, draw the figure; the last line names it."""
    spec = phases()
    print("\n=== AEGIS demo summary ===")
    print("\n".join(summary_lines(spec)))
    print("  step times: " + ", ".join(f"{title.split(':')[0]} {seconds:.0f}s" for title, seconds in timings)
          + f"; total {sum(seconds for _, seconds in timings) / 60:.1f} min")
    print(f"Summary figure of all three phases (curves, results beside controls): {summary_figure(spec, figure)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="redo every step even when its outputs exist")
    args = parser.parse_args(argv)
    try:
        timings = run_steps(STEPS, fresh=args.fresh)
    except AegisError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    summarize(timings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
