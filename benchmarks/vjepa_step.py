"""Training throughput of V-JEPA pretraining on CPU: clips/s of one full step.

A step is what a training iteration costs: mask sampling, the target encoder on the full clip, the context
encoder and predictor for each mask group, the loss terms, backward, AdamW and the EMA target update. Masks follow
the official ViT-L/16 recipe (facebookresearch/jepa configs/pretrain/vitl16.yaml): 8 blocks at spatial scale 0.15
plus 2 at 0.7, aspect ratio 0.75-1.5, full temporal extent. The figure is the median over repeats after warm-up.
Each config runs in fp32 (how the official code trains on a CPU: its bf16 autocast is CUDA-only) and with the forward
pass under CPU bf16 autocast, which is what ``aegis run --amp`` does on a machine without a GPU.

    python benchmarks/vjepa_step.py [--configs tiny small] [--precision fp32 bf16] [--threads 2] [--repeats 10]
        [--warmup 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

# name: (img_size, patch, frames, width, depth, heads, predictor width, predictor depth, batch)
CONFIGS = {
    "tiny": dict(img_size=64, patch_size=8, num_frames=8, embed_dim=192, depth=6, num_heads=3,
                 pred_dim=96, pred_depth=3, batch=8),
    "small": dict(img_size=112, patch_size=16, num_frames=16, embed_dim=384, depth=12, num_heads=6,
                  pred_dim=192, pred_depth=6, batch=8),
}
OFFICIAL_MASKS = [
    dict(type="MultiBlock3DMaskGenerator", num_blocks=8, mask_ratio=None, spatial_scale=(0.15, 0.15),
         temporal_scale=(1.0, 1.0), aspect_ratio=(0.75, 1.5)),
    dict(type="MultiBlock3DMaskGenerator", num_blocks=2, mask_ratio=None, spatial_scale=(0.7, 0.7),
         temporal_scale=(1.0, 1.0), aspect_ratio=(0.75, 1.5)),
]


def build(name: str):
    """The JEPAPretrainer of a benchmark config, an AdamW over its trainable parameters, and a random batch."""
    from aegis.build import build_component
    from aegis.registry import MODELS

    c = CONFIGS[name]
    model = build_component(dict(
        type="JEPAPretrainer",
        encoder=dict(type="VJEPAEncoder", arch=None, embed_dim=c["embed_dim"], depth=c["depth"],
                     num_heads=c["num_heads"], patch_size=c["patch_size"], tubelet_size=2,
                     num_frames=c["num_frames"], img_size=c["img_size"]),
        predictor=dict(type="JEPAPredictor", embed_dim=c["pred_dim"], depth=c["pred_depth"],
                       num_heads=c["num_heads"]),
        mask_generators=OFFICIAL_MASKS,
        losses=[dict(type="LatentReconstructionLoss", norm="l1"), dict(type="TemporalCausalityLoss", loss_weight=0.1)],
    ), MODELS)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05)
    video = torch.randn(c["batch"], 3, c["num_frames"], c["img_size"], c["img_size"])  # (B, C, T, H, W)
    return model, optimizer, video


def step(model, optimizer, video, bf16: bool = False) -> None:
    """One training step: forward (all mask groups, under bf16 autocast when ``bf16``), backward, AdamW, EMA."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        terms = model(video, mode="loss")
    total = sum(terms.values())
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    model.update_target(0.996)


def measure(name: str, repeats: int, warmup: int, bf16: bool = False) -> dict:
    torch.manual_seed(0)
    model, optimizer, video = build(name)
    model.train()
    for _ in range(warmup):
        step(model, optimizer, video, bf16)
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        step(model, optimizer, video, bf16)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    median = statistics.median(times)
    # CPU seconds / threads: what the wall time would be with the threads running uncontended (shared machines)
    cpu_median = statistics.median(cpu_times) / torch.get_num_threads()
    batch = CONFIGS[name]["batch"]
    return dict(config=name, precision="bf16" if bf16 else "fp32", clips_per_s=batch / median, step_s=median,
                best_clips_per_s=batch / min(times),
                cpu_clips_per_s=batch / cpu_median)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"],
                        help="fp32, and/or bf16 autocast (what `aegis run --amp` does on CPU; fast on AVX512-BF16/AMX)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from aegis import plugins

    plugins.load()
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats} after {args.warmup} warm-up, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    runs = [(name, precision) for name in args.configs for precision in args.precision]
    for name, precision in runs:
        r = measure(name, args.repeats, args.warmup, bf16=precision == "bf16")
        print(f"{r['config']:>5} {r['precision']}: {r['clips_per_s']:6.2f} clips/s (step {r['step_s'] * 1e3:7.1f} ms, "
              f"best {r['best_clips_per_s']:.2f}); from CPU time: {r['cpu_clips_per_s']:.2f} clips/s", flush=True)
    print("No ratio against the official implementation is given: its step was not timed in this run (a figure from "
          "another day and machine is no reference). Issue 17 asks for the official code timed side by side.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
