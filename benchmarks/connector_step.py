"""Forward+backward steps/s of each connector, and of transformers' Blip2QFormerModel at the same shapes.

Guide shapes: 32 queries, 6 layers, hidden 768, 12 heads, intermediate 3072, over the tokens of a 16-frame 224 px
ViT-L clip ([2, 1568, 1024], grid (8, 14, 14)), prefix width 4096 (Llama 3.1 8B). Tiny shapes: the test suite's.
The visual tokens come from a frozen encoder, so they do not require gradients. Each number is the median (and
best) of ``--repeats`` timed steps after ``--warmup`` untimed ones, on ``--threads`` CPU threads (fp32); the
connectors are timed in turn, step by step, so that load from other processes hits them alike; CPU-s is the
median process CPU time per step (all threads), the figure least disturbed by other processes. After each shape the
ratio of every connector to ``Blip2QFormerModel`` in this run is printed (steps/s medians, and CPU-s); when the
reference was not timed (left out of ``--connectors``, or transformers missing) the script says that no ratio is
given rather than quoting a figure from another run.

    .venv/bin/python benchmarks/connector_step.py [--shapes guide tiny] [--threads 2] [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

SHAPES = {
    "guide": dict(batch=2, grid=(8, 14, 14), input_dim=1024, output_dim=4096, queries=32, depth=6, hidden=768,
                  heads=12, intermediate=3072),
    "tiny": dict(batch=2, grid=(1, 2, 2), input_dim=32, output_dim=48, queries=4, depth=2, hidden=32, heads=2,
                 intermediate=64),
}


class HFQFormer(nn.Module):
    """transformers' Blip2QFormerModel with BLIP-2's query tokens and language projection around it."""

    def __init__(self, s: dict) -> None:
        super().__init__()
        from transformers import Blip2QFormerConfig, Blip2QFormerModel

        config = Blip2QFormerConfig(hidden_size=s["hidden"], num_hidden_layers=s["depth"],
                                    num_attention_heads=s["heads"], intermediate_size=s["intermediate"],
                                    encoder_hidden_size=s["input_dim"], cross_attention_frequency=2)
        self.qformer = Blip2QFormerModel(config)
        self.query_tokens = nn.Parameter(torch.randn(1, s["queries"], s["hidden"]) * 0.02)
        self.proj = nn.Linear(s["hidden"], s["output_dim"])

    def forward(self, visual, grid=None):
        query = self.query_tokens.expand(visual.shape[0], -1, -1)
        return self.proj(self.qformer(query_embeds=query, encoder_hidden_states=visual).last_hidden_state)


def build(name: str, s: dict) -> nn.Module:
    from aegis import plugins
    from aegis.build import build_component
    from aegis.registry import CONNECTORS

    plugins.load()
    common = dict(input_dim=s["input_dim"], output_dim=s["output_dim"])
    if name == "QFormer":
        cfg = dict(type="QFormer", num_query_tokens=s["queries"], depth=s["depth"], hidden_size=s["hidden"],
                   num_heads=s["heads"], intermediate_size=s["intermediate"], temporal_pos_embed=True)
    elif name == "PerceiverResampler":
        cfg = dict(type="PerceiverResampler", num_query_tokens=s["queries"], depth=s["depth"],
                   hidden_size=s["hidden"], num_heads=s["heads"], intermediate_size=s["intermediate"])
    elif name == "MLPProjector":
        t = min(2, s["grid"][0])
        side = max(1, int(round((s["queries"] / t) ** 0.5)))
        cfg = dict(type="MLPProjector", temporal_tokens=t, spatial_grid=(side, side))
    else:
        return HFQFormer(s)
    return build_component(cfg, CONNECTORS, **common)


def one_step(model: nn.Module, visual: torch.Tensor, grid, backward: bool) -> tuple[float, float]:
    """Wall seconds and process CPU seconds for one forward (+ backward) step."""
    start, cpu = time.perf_counter(), time.process_time()
    if backward:
        model.zero_grad(set_to_none=True)
        model(visual, grid).float().square().mean().backward()
    else:
        with torch.no_grad():
            model(visual, grid)
    return time.perf_counter() - start, time.process_time() - cpu


def count_gflop(model: nn.Module, visual: torch.Tensor, grid) -> float:
    """GFLOP of one forward+backward step, counted by torch's FlopCounterMode (independent of machine load)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter:
        model(visual, grid).float().square().mean().backward()
    return counter.get_total_flops() / 1e9


def time_round_robin(models: dict, visual: torch.Tensor, grid, backward: bool, warmup: int,
                     repeats: int) -> dict:
    """Per model: steps/s (median, best) of wall time, and median CPU seconds per step; the models are timed in
    turn so that load from other processes hits them alike (CPU seconds are the least sensitive to that load)."""
    times = {name: [] for name in models}
    for i in range(warmup + repeats):
        for name, model in models.items():
            model.train(backward)
            seconds = one_step(model, visual, grid, backward)
            if i >= warmup:
                times[name].append(seconds)
    return {name: (1.0 / statistics.median(w for w, _ in t), 1.0 / min(w for w, _ in t),
                   statistics.median(c for _, c in t)) for name, t in times.items()}


REFERENCE = "Blip2QFormerModel"


def ratios_to_reference(train: dict, infer: dict, reference: str = REFERENCE) -> dict:
    """Per connector other than ``reference``: (fwd+bwd steps/s ratio, fwd steps/s ratio, fwd+bwd CPU-s ratio) to
    ``reference``, from the medians of one run (``time_round_robin``'s results); empty when it was not timed."""
    if reference not in train:
        return {}
    ref_train, ref_infer = train[reference], infer[reference]
    return {name: (train[name][0] / ref_train[0], infer[name][0] / ref_infer[0],
                   train[name][2] / ref_train[2] if ref_train[2] > 0 else float("nan"))  # CPU-s can round to 0
            for name in train if name != reference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["guide", "tiny"], choices=sorted(SHAPES))
    parser.add_argument("--connectors", nargs="+",
                        default=["QFormer", REFERENCE, "PerceiverResampler", "MLPProjector"],
                        choices=["QFormer", REFERENCE, "PerceiverResampler", "MLPProjector"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, fp32 CPU; median of {args.repeats} after "
          f"{args.warmup} warm-up")
    print(f"{'shapes':6} {'connector':20} {'params':>8} {'fwd+bwd/s median (best)':>24} {'CPU-s':>7} "
          f"{'fwd/s median (best)':>20} {'CPU-s':>7} {'GFLOP fwd+bwd':>13}")
    for shape_name in args.shapes:
        s = SHAPES[shape_name]
        t, h, w = s["grid"]
        torch.manual_seed(0)
        visual = torch.randn(s["batch"], t * h * w, s["input_dim"])  # (B, N, Dv), from a frozen encoder
        models, missing = {}, {}
        for name in args.connectors:
            torch.manual_seed(0)
            try:
                models[name] = build(name, s)
            except ImportError as exc:  # transformers is an optional dependency: the reference may be unavailable
                missing[name] = f"{type(exc).__name__}: {exc}"
                print(f"{shape_name:6} {name:20} not timed: {missing[name]}", flush=True)
        train = time_round_robin(models, visual, s["grid"], True, args.warmup, args.repeats)
        infer = time_round_robin(models, visual, s["grid"], False, args.warmup, args.repeats)
        for name, model in models.items():
            params = sum(p.numel() for p in model.parameters())
            print(f"{shape_name:6} {name:20} {params / 1e6:7.2f}M {train[name][0]:15.2f} ({train[name][1]:5.2f})"
                  f" {train[name][2]:7.3f} {infer[name][0]:11.2f} ({infer[name][1]:5.2f}) {infer[name][2]:7.3f}"
                  f" {count_gflop(model, visual, s['grid']):13.4g}", flush=True)
        ratios = ratios_to_reference(train, infer)
        if ratios:
            print(f"{shape_name:6} ratio to {REFERENCE} in this run (medians; steps/s, higher is faster; CPU-s per "
                  "fwd+bwd step, lower is cheaper):")
            for name, (fwd_bwd, fwd, cpu) in ratios.items():
                print(f"{shape_name:6} {name:20} fwd+bwd {fwd_bwd:5.2f}x  fwd {fwd:5.2f}x  CPU-s {cpu:5.2f}x",
                      flush=True)
        else:
            why = missing.get(REFERENCE, "not in --connectors")
            print(f"{shape_name:6} no ratio to {REFERENCE} is given: it was not timed in this run ({why}).",
                  flush=True)


if __name__ == "__main__":
    main()
