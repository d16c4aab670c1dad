"""One V-JEPA pretraining step on CPU, AEGIS beside the official code (facebookresearch/jepa), timed interleaved.

A step is what a training iteration costs: the target encoder on the full clip, the context encoder and predictor
for each mask group, the loss, backward, AdamW and the EMA update of the target. Masks follow the official ViT-L/16
recipe (configs/pretrain/vitl16.yaml: 8 blocks at spatial scale 0.15 plus 2 at 0.7, aspect ratio 0.75-1.5, full
temporal extent) and are drawn per step with a seeded generator; both implementations get the same masks, the same
clips, the same batch, the same initial weights (AEGIS's, copied into the official modules) and the same thread
count. AEGIS's timed step includes drawing its masks (it draws them in the step); the official one does not (its
collator draws them in the data-loader workers).

``--official-root PATH`` names a checkout of facebookresearch/jepa (``git clone
https://github.com/facebookresearch/jepa``); its ``src`` package is imported from there and its step is the core of
``app/vjepa/train.py``'s ``train_step``: ``forward_target`` (target encoder, layer norm, ``apply_masks``),
``forward_context`` (``MultiMaskWrapper`` encoder and ``PredictorMultiMaskWrapper`` predictor, one call per mask
group), the L1 loss plus its variance regulariser (weight 0 in the recipe, computed anyway), backward, AdamW with
the official parameter groups and the per-parameter momentum update. Left out on both sides: logging, grad-norm
clipping (off in the official recipe's warm-up) and schedulers. Before timing, one step of each on the same masks
is compared: the official loss must equal AEGIS's reconstruction term, or the two are not doing the same work.
Without ``--official-root`` AEGIS alone is timed and no ratio is given.

Per round and config, the sides take turns step by step (each goes first in turn) after ``--warmup`` steps each;
each reports its median step over ``--steps``, the range, the ratio of medians to the official step, and its useful
FLOP/s (``step_flops``) as a share of the fp32 matmul ceiling measured in the same run. ``--candidates`` adds AEGIS
with torch's default AdamW and with gradient checkpointing as sides; ``--precision bf16`` times AEGIS under CPU bf16
autocast (no official side: the official recipe's autocast is CUDA-only); ``--breakdown`` profiles AEGIS's step
instead and prints where its time goes, by phase and by kind of operation. ``--gpu`` adds a CUDA section
(benchmarks/vjepa_step_gpu.py: fused SDPA kernels, bf16 autocast, fp16 autocast with the loss scaler, gradient
checkpointing, pinned non-blocking copies); it is skipped with a message when no CUDA device is present.

    python benchmarks/vjepa_step.py [--official-root PATH] [--configs tiny small] [--rounds 2] [--steps 10]
        [--warmup 3] [--threads 2] [--precision fp32 bf16] [--candidates] [--breakdown] [--gpu]
"""
from __future__ import annotations

import argparse
import copy
import importlib
import os
import statistics
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch.profiler import record_function

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
LR, WEIGHT_DECAY, MOMENTUM = 1e-4, 0.04, 0.998
# the modules of facebookresearch/jepa the official step uses, relative to the checkout
OFFICIAL_MODULES = dict(vit="src.models.vision_transformer", predictor="src.models.predictor",
                        multimask="src.models.utils.multimask", masks="src.masks.utils")


# -- AEGIS ------------------------------------------------------------------------------------------------------------
def build_aegis(name: str, seed: int = 0, fused: bool = True, checkpointing: bool = False):
    """The JEPAPretrainer of a benchmark config (the losses of the tiny experiment) and the fused AdamW the V-JEPA
    experiments train it with (experiments/vjepa_pretrain_tiny.py, vjepa_vitl16.py); ``fused=False`` gives torch's
    default AdamW instead (one parameter at a time on a CPU), ``checkpointing`` the encoder's and predictor's
    ``gradient_checkpointing``."""
    from aegis.build import build_component
    from aegis.registry import MODELS

    c = CONFIGS[name]
    torch.manual_seed(seed)
    model = build_component(dict(
        type="JEPAPretrainer",
        encoder=dict(type="VJEPAEncoder", arch=None, embed_dim=c["embed_dim"], depth=c["depth"],
                     num_heads=c["num_heads"], patch_size=c["patch_size"], tubelet_size=2,
                     num_frames=c["num_frames"], img_size=c["img_size"], gradient_checkpointing=checkpointing),
        predictor=dict(type="JEPAPredictor", embed_dim=c["pred_dim"], depth=c["pred_depth"],
                       num_heads=c["num_heads"], gradient_checkpointing=checkpointing),
        mask_generators=OFFICIAL_MASKS,
        losses=[dict(type="LatentReconstructionLoss", norm="l1"), dict(type="TemporalCausalityLoss", loss_weight=0.1)],
    ), MODELS)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR,
                                  weight_decay=WEIGHT_DECAY, fused=fused or None)
    return model, optimizer


def aegis_step(model, optimizer, video, mask_seed: int, bf16: bool = False) -> dict:
    """One AEGIS training step: draw the masks, the loss terms (under CPU bf16 autocast when ``bf16``), backward,
    AdamW, EMA. Returns the loss terms (detached)."""
    with record_function("jepa.mask_sampling"):
        masks = model.sample_masks(video.shape[0], torch.Generator().manual_seed(mask_seed))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        terms = model.loss(video, masks)
    optimizer.zero_grad(set_to_none=True)
    with record_function("backward"):
        sum(terms.values()).backward()
    with record_function("optimizer"):
        optimizer.step()
    with record_function("EMA"):
        model.update_target(MOMENTUM)
    return {k: v.detach() for k, v in terms.items()}


# phases of the step as torch.profiler sees them (the labels JEPAPretrainer.loss and VJEPAEncoder.forward set)
PHASES = ["jepa.mask_sampling", "jepa.target_encoder", "jepa.context_encoder[0]", "jepa.context_encoder[1]",
          "vjepa.patch_embed", "jepa.predictor[0]", "jepa.predictor[1]", "jepa.loss[0]", "jepa.loss[1]", "backward",
          "optimizer", "EMA"]
OP_CLASSES = {"matmul": ("aten::addmm", "aten::mm", "aten::bmm"), "attention": ("aten::_scaled_dot_product",),
              "GELU": ("aten::gelu",), "LayerNorm": ("aten::native_layer_norm",),
              "copies": ("aten::copy_", "aten::_to_copy", "aten::cat", "aten::gather", "aten::index", "aten::clone"),
              "convolution": ("aten::mkldnn_convolution", "aten::convolution_backward")}


def breakdown(name: str, steps: int, warmup: int) -> None:
    """Print where one AEGIS step's time goes at a config: per phase (the record_function labels; patch embedding
    is inside the encoders, backward covers all modules) and per kind of operation (self time), from torch.profiler
    over ``steps`` steps. The profiler adds overhead: read the shares, not the absolute times."""
    from torch.profiler import ProfilerActivity, profile

    c = CONFIGS[name]
    model, optimizer = build_aegis(name)
    video = torch.randn(c["batch"], 3, c["num_frames"], c["img_size"], c["img_size"])
    for i in range(warmup):
        aegis_step(model, optimizer, video, i)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            aegis_step(model, optimizer, video, warmup + i)
    step_ms = (time.perf_counter() - start) / steps * 1e3
    events = prof.key_averages()
    total = {e.key: e.cpu_time_total / 1e3 / steps for e in events}  # ms per step, children included
    self_ms = {e.key: e.self_cpu_time_total / 1e3 / steps for e in events}
    print(f"{name}: where the time of one AEGIS step goes ({steps} profiled steps, {step_ms:.0f} ms per step "
          "under the profiler)")
    for phase in PHASES:
        if phase in total:
            print(f"  {phase:<26} {total[phase]:8.1f} ms {total[phase] / step_ms:6.1%}")
    print("  by operation (self time, all phases):")
    counted = 0.0
    for kind, prefixes in OP_CLASSES.items():
        ms = sum(v for k, v in self_ms.items() if k.startswith(prefixes))
        counted += ms
        print(f"  {kind:<26} {ms:8.1f} ms {ms / step_ms:6.1%}")
    other = step_ms - counted
    print(f"  {'everything else':<26} {other:8.1f} ms {other / step_ms:6.1%}  (element-wise adds and sums, AdamW, "
          "autograd, Python)")


# -- the official implementation ---------------------------------------------------------------------------------------
def load_official(root: str | os.PathLike) -> SimpleNamespace:
    """Import the official modules from a facebookresearch/jepa checkout at ``root`` (its ``src`` package)."""
    root = Path(root).expanduser().resolve()
    missing = [m for m in OFFICIAL_MODULES.values() if not (root / (m.replace(".", "/") + ".py")).is_file()]
    if missing:
        raise SystemExit(f"--official-root {root}: {missing[0].replace('.', '/')}.py is not there; expected a "
                         "checkout of facebookresearch/jepa (git clone https://github.com/facebookresearch/jepa).")
    for module in [m for m in sys.modules if m == "src" or m.startswith("src.")]:
        del sys.modules[module]  # another `src` package imported before would shadow the checkout's
    sys.path.insert(0, str(root))
    try:
        return SimpleNamespace(**{key: importlib.import_module(name) for key, name in OFFICIAL_MODULES.items()})
    finally:
        sys.path.remove(str(root))


class OfficialStep:
    """The official encoder, target encoder and predictor at a benchmark config, with AEGIS's initial weights."""

    def __init__(self, official: SimpleNamespace, name: str, aegis_model) -> None:
        c = CONFIGS[name]
        norm = partial(torch.nn.LayerNorm, eps=1e-6)
        backbone = official.vit.VisionTransformer(
            img_size=c["img_size"], patch_size=c["patch_size"], num_frames=c["num_frames"], tubelet_size=2,
            embed_dim=c["embed_dim"], depth=c["depth"], num_heads=c["num_heads"], mlp_ratio=4, qkv_bias=True,
            norm_layer=norm, uniform_power=True, use_sdpa=True)
        predictor = official.predictor.VisionTransformerPredictor(
            img_size=c["img_size"], patch_size=c["patch_size"], num_frames=c["num_frames"], tubelet_size=2,
            embed_dim=c["embed_dim"], predictor_embed_dim=c["pred_dim"], depth=c["pred_depth"],
            num_heads=c["num_heads"], mlp_ratio=4, qkv_bias=True, norm_layer=norm, uniform_power=True,
            use_mask_tokens=True, num_mask_tokens=len(OFFICIAL_MASKS), zero_init_mask_tokens=True, use_sdpa=True)
        copy_weights(aegis_model, backbone, predictor)
        self.apply_masks = official.masks.apply_masks
        self.encoder = official.multimask.MultiMaskWrapper(backbone)
        self.predictor = official.multimask.PredictorMultiMaskWrapper(predictor)
        self.target_encoder = copy.deepcopy(self.encoder)
        for p in self.target_encoder.parameters():
            p.requires_grad = False
        decayed = lambda n, p: "bias" not in n and p.ndim != 1  # noqa: E731 -- the official init_opt's split
        groups = [dict(params=[p for n, p in module.named_parameters() if decayed(n, p) == decay])
                  for decay in (True, False) for module in (self.encoder, self.predictor)]
        for group in groups[2:]:
            group["weight_decay"] = 0
        self.optimizer = torch.optim.AdamW(groups, lr=LR, weight_decay=WEIGHT_DECAY)

    def __call__(self, video, masks) -> float:
        """One step of app/vjepa/train.py's train_step (fp32) on ``masks`` [(context, target)] per group."""
        masks_enc, masks_pred = [m[0] for m in masks], [m[1] for m in masks]
        with torch.no_grad():
            h = self.target_encoder(video)
            h = F.layer_norm(h, (h.size(-1),))
            h = self.apply_masks(h, masks_pred, concat=False)
        z = self.encoder(video, masks_enc)
        z = self.predictor(z, h, masks_enc, masks_pred)
        loss_exp = 1.0  # the recipe's loss.loss_exp
        loss_jepa = sum(torch.mean(torch.abs(zi - hi) ** loss_exp) / loss_exp for zi, hi in zip(z, h)) / len(masks_pred)
        pstd_z = sum(torch.sqrt(zi.var(dim=1) + 0.0001) for zi in z) / len(z)
        loss = loss_jepa + 0.0 * torch.mean(F.relu(1.0 - pstd_z))  # reg_coeff 0 in the recipe
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        with torch.no_grad():
            for param_q, param_k in zip(self.encoder.parameters(), self.target_encoder.parameters()):
                param_k.data.mul_(MOMENTUM).add_((1.0 - MOMENTUM) * param_q.detach().data)
        return float(loss_jepa.detach())


def copy_weights(aegis_model, backbone, predictor) -> None:
    """AEGIS's encoder and predictor weights into the official modules (the same parameter names, except the
    predictor's blocks, norm and mask tokens, and the fixed position tables, which both compute)."""
    backbone.load_state_dict(aegis_model.encoder.state_dict(), strict=True)
    state = {}
    for key, value in aegis_model.predictor.state_dict().items():
        if key == "mask_tokens":
            state.update({f"mask_tokens.{i}": row.view(1, 1, -1) for i, row in enumerate(value)})
        else:
            key = key.replace("blocks.", "predictor_blocks.", 1) if key.startswith("blocks.") else key
            state[key.replace("norm.", "predictor_norm.", 1) if key.startswith("norm.") else key] = value
    state["predictor_pos_embed"] = aegis_model.predictor.pos_embed.unsqueeze(0)
    predictor.load_state_dict(state, strict=True)


# -- timing -----------------------------------------------------------------------------------------------------------
def spread(times: list[float], batch: int) -> dict:
    median = statistics.median(times)
    return dict(step_s=median, clips_per_s=batch / median, low=batch / max(times), high=batch / min(times))


def matmul_ceiling(size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a large fp32 matmul at the current thread count (median of ``repeats``): the machine's ceiling."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / statistics.median(times) / 1e9


def step_flops(name: str, masks) -> float:
    """Useful FLOPs of one training step at a config on ``masks`` [(context (B, Kc), target (B, Kt))] per group,
    counted from the shapes (a multiply-add is 2): per block on M tokens of width D, 24 M D^2 for the linears and
    4 B N^2 D for attention; the target encoder forward only, the context encoder and the predictor forward plus a
    backward of twice that (gradients of inputs and of weights; the context's tubelet embedding needs no input
    gradient). Element-wise work is not counted. Equal to ``torch.utils.flop_counter`` on the step with math
    attention (tests/benchmarks/test_vjepa_step.py)."""
    c = CONFIGS[name]
    batch, width, pred = c["batch"], c["embed_dim"], c["pred_dim"]
    tokens = (c["num_frames"] // 2) * (c["img_size"] // c["patch_size"]) ** 2
    tubelet = 3 * 2 * c["patch_size"] ** 2

    def blocks(rows: int, length: int, dim: int, depth: int) -> int:  # rows = batch * length tokens
        return depth * (24 * rows * dim ** 2 + 4 * (rows // length) * length ** 2 * dim)

    flops = 2 * batch * tokens * tubelet * width + blocks(batch * tokens, tokens, width, c["depth"])  # target
    for context, target in masks:
        kc, kt = context.shape[1], target.shape[1]
        embed = 2 * batch * kc * tubelet * width
        encoder = blocks(batch * kc, kc, width, c["depth"])
        predictor = (2 * batch * kc * width * pred + blocks(batch * (kc + kt), kc + kt, pred, c["pred_depth"])
                     + 2 * batch * kt * pred * width)
        flops += 2 * embed + 3 * (encoder + predictor)
    return flops


# AEGIS variants --candidates adds beside AEGIS as it trains: build_aegis arguments
CANDIDATES = {"AEGIS, torch's default AdamW": dict(fused=False), "AEGIS, checkpointing": dict(checkpointing=True)}


def run_config(name: str, steps: int, warmup: int, official, bf16: bool = False, seed: int = 0,
               candidates: bool = False) -> dict:
    """Time ``steps`` steps of each side (AEGIS; the official code when ``official`` is given; the ``CANDIDATES``
    when ``candidates``), in rotating order, after ``warmup`` steps each."""
    c = CONFIGS[name]
    video = torch.randn(c["batch"], 3, c["num_frames"], c["img_size"], c["img_size"],
                        generator=torch.Generator().manual_seed(seed))  # (B, C, T, H, W)
    model, optimizer = build_aegis(name, seed)
    result = dict(config=name, precision="bf16" if bf16 else "fp32", sides={})

    def timed_aegis(model, optimizer):
        def run(mask_seed: int) -> float:  # AEGIS draws its masks in the step: timed
            start = time.perf_counter()
            aegis_step(model, optimizer, video, mask_seed, bf16)
            return time.perf_counter() - start
        return run

    sides = {"AEGIS": timed_aegis(model, optimizer)}
    for label, variant in (CANDIDATES.items() if candidates else ()):
        sides[label] = timed_aegis(*build_aegis(name, seed, **variant))
    if official is not None:
        other = OfficialStep(official, name, model)
        # the same work: on the same masks and weights, the official loss equals AEGIS's reconstruction term
        masks = model.sample_masks(c["batch"], torch.Generator().manual_seed(seed))
        result["loss_check"] = (other(video, masks), float(aegis_step(model, optimizer, video, seed)[
            "reconstruction_loss"]))

        def timed_official(mask_seed: int) -> float:  # its masks come from its collator, in the loader workers
            masks = model.sample_masks(c["batch"], torch.Generator().manual_seed(mask_seed))
            start = time.perf_counter()
            other(video, masks)
            return time.perf_counter() - start

        sides["official"] = timed_official
    times = {side: [] for side in sides}
    names = list(sides)
    for i in range(warmup + steps):
        for side in names[i % len(names):] + names[:i % len(names)]:  # each side goes first in turn
            elapsed = sides[side](seed + 1 + i)
            if i >= warmup:
                times[side].append(elapsed)
    for side, values in times.items():
        result["sides"][side] = spread(values, c["batch"])
    result["flops"] = statistics.mean(
        step_flops(name, model.sample_masks(c["batch"], torch.Generator().manual_seed(seed + 1 + i)))
        for i in range(warmup, warmup + steps))  # the timed steps' masks
    return result


def same_work(official_loss: float, aegis_loss: float) -> bool:
    """Whether the two first-step losses agree to float tolerance (same weights, masks and clips)."""
    return abs(official_loss - aegis_loss) <= 1e-5 * max(1.0, abs(aegis_loss))


def describe(r: dict, ceiling: float | None = None) -> list[str]:
    """One line per side: clips/s median [range], step, share of the matmul ceiling, ratio to the official side."""
    lines, flops = [], r["flops"]
    official = r["sides"].get("official")
    for side, s in r["sides"].items():
        line = (f"{r['config']:>5} {r['precision']} {side:>28}: {s['clips_per_s']:6.2f} clips/s "
                f"[{s['low']:.2f}-{s['high']:.2f}], step {s['step_s'] * 1e3:.0f} ms")
        if ceiling:
            rate = flops / s["step_s"] / 1e9
            line += f", {rate:.0f} GFLOP/s = {rate / ceiling:.0%} of the ceiling"
        if official is not None and side != "official":
            line += f"; {official['step_s'] / s['step_s']:.2f}x the official step"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-root", default=None,
                        help="a checkout of facebookresearch/jepa; without it no ratio is given")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per side, config and round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"],
                        help="bf16: AEGIS's forward under CPU bf16 autocast (what `aegis run --amp` does without a "
                             "GPU; fast only with AVX512-BF16/AMX); the official side always runs fp32 on a CPU")
    parser.add_argument("--candidates", action="store_true",
                        help="also time AEGIS with torch's default AdamW and with gradient checkpointing")
    parser.add_argument("--breakdown", action="store_true",
                        help="instead of timing, profile AEGIS's step and print where its time goes")
    parser.add_argument("--gpu", action="store_true", help="also time the CUDA recipe (skipped without a GPU)")
    args = parser.parse_args(argv)
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:  # a caller in the same process (a test) keeps its own thread count
        torch.set_num_threads(previous)


def _run(args) -> int:
    official = load_official(args.official_root) if args.official_root else None
    # the official Attention enters torch.backends.cuda.sdp_kernel(), deprecated since torch 2.3 (a no-op on CPU)
    warnings.filterwarnings("ignore", message=r".*sdp_kernel\(\)` is deprecated", category=FutureWarning)
    from aegis import plugins

    plugins.load()
    if args.breakdown:
        for name in args.configs:
            breakdown(name, args.steps, args.warmup)
        return 0
    ceiling = matmul_ceiling()
    print(f"torch {torch.__version__}, {args.threads} threads, median [range] of {args.steps} steps after "
          f"{args.warmup} warm-up, {args.rounds} round(s), load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs; fp32 matmul ceiling {ceiling:.0f} GFLOP/s (2048^3, this run)", flush=True)
    for round_index in range(args.rounds):
        for name in args.configs:
            for precision in args.precision:
                bf16 = precision == "bf16"  # the official recipe's bf16 autocast is CUDA-only: no official side
                r = run_config(name, args.steps, args.warmup, None if bf16 else official, bf16=bf16,
                               seed=round_index, candidates=args.candidates)
                if "loss_check" in r:
                    theirs, ours = r["loss_check"]
                    verdict = "the same work" if same_work(theirs, ours) else "DIFFERENT: the ratios are not valid"
                    print(f"round {round_index + 1} {name}: first-step loss official {theirs:.6f}, AEGIS {ours:.6f} "
                          f"({verdict})")
                print(f"round {round_index + 1} {name}: {r['flops'] / 1e9:.1f} GFLOP per step (the mean over the "
                      "timed steps' masks, counted from the shapes: step_flops)")
                for line in describe(r, ceiling):
                    print(f"round {round_index + 1} {line}", flush=True)
    print(f"fp32 matmul ceiling at the end: {matmul_ceiling():.0f} GFLOP/s")
    if official is None:
        print("No ratio against the official implementation: its step was not timed in this run. Pass "
              "--official-root PATH (a checkout of facebookresearch/jepa) to time it side by side.")
    if args.gpu:
        from vjepa_step_gpu import gpu_section

        gpu_section(args.configs, args.steps, args.warmup)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
