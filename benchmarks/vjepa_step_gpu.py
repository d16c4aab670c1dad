"""The CUDA section of ``benchmarks/vjepa_step.py --gpu``: the V-JEPA step's GPU recipe, one variant at a time.

For each benchmark config (``vjepa_step.CONFIGS``) a fresh model (the same seeded weights each time) is moved to the
GPU and timed in these variants, each reporting clips/s as the median [range] over ``steps`` after ``warmup`` steps
(``torch.cuda.synchronize()`` before and after every timed step), the step time, the peak of
``torch.cuda.max_memory_allocated`` (weights, AdamW state and activations) and the ratio to the first row:

  * fp32 with scaled-dot-product attention restricted to the math backend
    (``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)``), then with torch's default choice (the flash and
    memory-efficient kernels where they apply: flash needs fp16/bf16, so in fp32 only memory-efficient can run);
  * fp32 with TF32 matmuls (``torch.set_float32_matmul_precision("high")``, restored afterwards);
  * bf16 autocast (``torch.autocast("cuda", dtype=torch.bfloat16)``), with the math backend and with the default;
  * fp16 autocast with ``torch.amp.GradScaler("cuda")`` (scale the loss, ``scaler.step``, ``scaler.update``), what
    ``aegis run --amp`` sets up on a GPU through mmengine's ``AmpOptimWrapper``;
  * activation checkpointing of the context encoder's and the predictor's blocks (their ``gradient_checkpointing``
    flag), in fp32 and under bf16 autocast.

Then host-to-device copies of one batch of clips (B, C, T, H, W) fp32: a pageable ``.to("cuda")`` against a pinned
(``pin_memory()``) ``.to("cuda", non_blocking=True)``, alone (ms and GB/s) and while a step runs: the next batch is
copied (pageable: on the current stream, which blocks the host before it can queue the step; pinned: on a side
stream, so the copy overlaps the step's kernels) and the step (fp32, default attention) runs on the resident batch.

A step here is ``vjepa_step.aegis_step``'s work on the GPU (:func:`amp_step`): masks drawn with a seeded CPU generator
and moved to the GPU, the loss terms, backward, AdamW, the EMA update. A variant that fails (no bf16 on an old GPU,
out of memory, a model without the checkpointing flag) prints its error in one line and the section goes on. Without
a CUDA device the section prints one line and returns.
"""
from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from vjepa_step import CONFIGS, MOMENTUM, build_aegis, spread

__all__ = ["SKIP_LINE", "VARIANTS", "Variant", "amp_step", "copy_stats", "format_table", "gpu_section",
           "set_activation_checkpointing", "step_cells", "time_steps"]

SKIP_LINE = "GPU section skipped: no CUDA device (torch.cuda.is_available() is False)."
STEP_HEADER = ["variant", "clips/s", "[range]", "step ms", "peak MiB", "vs row 1"]
COPY_HEADER = ["copy of one batch", "median ms", "[range]", "GB/s"]


@dataclass(frozen=True)
class Variant:
    """One way to run the step: autocast dtype (None: fp32), SDPA backends (``"math"`` or torch's default), the
    fp16 loss scaler, TF32 matmuls in fp32, and activation checkpointing."""

    name: str
    dtype: torch.dtype | None = None
    sdpa: str = "default"
    scaler: bool = False
    tf32: bool = False
    checkpointing: bool = False


VARIANTS = (
    Variant("fp32, SDPA math only", sdpa="math"),
    Variant("fp32, SDPA default"),
    Variant("fp32, TF32 matmuls", tf32=True),
    Variant("bf16 autocast, SDPA math only", dtype=torch.bfloat16, sdpa="math"),
    Variant("bf16 autocast", dtype=torch.bfloat16),
    Variant("fp16 autocast + GradScaler", dtype=torch.float16, scaler=True),
    Variant("fp32, activation checkpointing", checkpointing=True),
    Variant("bf16 autocast, activation checkpointing", dtype=torch.bfloat16, checkpointing=True),
)


# -- pure helpers (tested on CPU) -------------------------------------------------------------------------------------
def time_steps(step: Callable[[int], object], steps: int, warmup: int,
               synchronize: Callable[[], None] = lambda: None) -> list[float]:
    """Wall seconds of ``step(i)`` for i = warmup .. warmup + steps - 1, after ``warmup`` untimed calls;
    ``synchronize`` runs before the clock starts and before it stops (``torch.cuda.synchronize`` on a GPU, where
    kernels run asynchronously)."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps={steps} must be >= 1 and warmup={warmup} >= 0")
    times = []
    for i in range(warmup + steps):
        synchronize()
        start = time.perf_counter()
        step(i)
        synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def copy_stats(times: Sequence[float], nbytes: int) -> dict:
    """Median and range of copy times in ms, and the bandwidth at the median in GB/s (1e9 bytes)."""
    median = statistics.median(times)
    return dict(ms=median * 1e3, low_ms=min(times) * 1e3, high_ms=max(times) * 1e3, gb_per_s=nbytes / median / 1e9)


def step_cells(result: dict, reference: dict | None) -> list[str]:
    """One row of the step table: ``result`` is ``vjepa_step.spread``'s dict plus ``variant`` and ``peak_mib``, or
    ``variant`` and ``error``; ``reference`` (row 1, when it ran) gives the ratio of clips/s."""
    if "error" in result:
        return [result["variant"], "failed", "", "", "", ""]
    ratio = "-"
    if reference is not None and "error" not in reference:
        ratio = f"{result['clips_per_s'] / reference['clips_per_s']:.2f}x"
    return [result["variant"], f"{result['clips_per_s']:.1f}", f"[{result['low']:.1f}-{result['high']:.1f}]",
            f"{result['step_s'] * 1e3:.1f}", f"{result['peak_mib']:.0f}", ratio]


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned, a rule under the header."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


# -- the step ---------------------------------------------------------------------------------------------------------
def amp_step(model, optimizer, video: torch.Tensor, mask_seed: int, dtype: torch.dtype | None = None,
             scaler: torch.amp.GradScaler | None = None) -> dict:
    """``vjepa_step.aegis_step`` on ``video``'s device: masks from a CPU generator seeded with ``mask_seed``, moved
    to that device; the loss terms under ``torch.autocast(device, dtype)`` when ``dtype`` is given; backward and
    AdamW, through ``scaler`` (scale, step, update) when given; the EMA update. Returns the terms
    (detached)."""
    masks = model.sample_masks(video.shape[0], torch.Generator().manual_seed(mask_seed), device=video.device)
    autocast = (torch.autocast(video.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext())
    with autocast:
        terms = model.loss(video, masks)
    optimizer.zero_grad(set_to_none=True)
    loss = sum(terms.values())
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # unscales first; skips the update if a gradient is inf/nan
        scaler.update()
    model.update_target(MOMENTUM)
    return {k: v.detach() for k, v in terms.items()}


def set_activation_checkpointing(model, enabled: bool) -> None:
    """Turn activation checkpointing of the context encoder's and the predictor's blocks on or off (their
    ``gradient_checkpointing`` flag, read at every forward; the target encoder runs without gradients and needs
    none)."""
    for part in (model.encoder, model.predictor):
        if not hasattr(part, "gradient_checkpointing"):
            raise RuntimeError(f"{type(part).__name__} has no gradient_checkpointing flag in this AEGIS")
        part.gradient_checkpointing = enabled


# -- CUDA -------------------------------------------------------------------------------------------------------------
_OPTIMIZER_SETTINGS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "foreach", "fused")


def _cuda_model(name: str, seed: int = 0):
    """The benchmark model of ``name`` on the GPU, with the optimizer ``build_aegis`` gives it (same class and
    settings, fused AdamW included) built anew over the GPU parameters, whatever ``Module.to`` did with the
    parameter objects."""
    model, cpu_optimizer = build_aegis(name, seed)
    model.to("cuda")
    settings = {k: v for k, v in cpu_optimizer.defaults.items() if k in _OPTIMIZER_SETTINGS}
    return model, type(cpu_optimizer)([p for p in model.parameters() if p.requires_grad], **settings)


def _clips(name: str, seed: int = 0) -> torch.Tensor:
    c = CONFIGS[name]
    return torch.randn(c["batch"], 3, c["num_frames"], c["img_size"], c["img_size"],
                       generator=torch.Generator().manual_seed(seed))  # (B, C, T, H, W), on the host


@contextlib.contextmanager
def _variant_context(variant: Variant):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with contextlib.ExitStack() as stack:
        if variant.sdpa == "math":
            stack.enter_context(sdpa_kernel(SDPBackend.MATH))
        if variant.tf32:
            stack.callback(torch.set_float32_matmul_precision, torch.get_float32_matmul_precision())
            torch.set_float32_matmul_precision("high")
        yield


def _release() -> None:
    gc.collect()
    torch.cuda.empty_cache()


def run_variant(name: str, variant: Variant, steps: int, warmup: int) -> dict:
    """Time ``variant`` of config ``name`` on the GPU; the result is ``spread``'s dict plus ``variant`` and
    ``peak_mib`` (``torch.cuda.max_memory_allocated`` over the steps, in MiB)."""
    if variant.dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise RuntimeError(f"{torch.cuda.get_device_name()} has no bf16 support (torch.cuda.is_bf16_supported())")
    model, optimizer = _cuda_model(name)
    if variant.checkpointing:
        set_activation_checkpointing(model, True)
    video = _clips(name).to("cuda")
    scaler = torch.amp.GradScaler("cuda") if variant.scaler else None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with _variant_context(variant):
        times = time_steps(lambda i: amp_step(model, optimizer, video, 1 + i, variant.dtype, scaler), steps, warmup,
                           torch.cuda.synchronize)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20
    return dict(spread(times, video.shape[0]), variant=variant.name, peak_mib=peak)


def run_copies(name: str, steps: int, warmup: int) -> list[list[str]]:
    """Rows of the copy table for config ``name``: pageable and pinned copies of one batch, alone and overlapped
    with a step (fp32, default attention) on the resident batch, beside the step alone."""
    host = _clips(name)
    pinned = host.pin_memory()
    nbytes = host.numel() * host.element_size()
    rows = []

    def cells(label: str, times: list[float], with_bandwidth: bool) -> list[str]:
        s = copy_stats(times, nbytes)
        return [label, f"{s['ms']:.2f}", f"[{s['low_ms']:.2f}-{s['high_ms']:.2f}]",
                f"{s['gb_per_s']:.1f}" if with_bandwidth else "-"]

    sync = torch.cuda.synchronize
    rows.append(cells("pageable .to(cuda)", time_steps(lambda i: host.to("cuda"), steps, warmup, sync), True))
    rows.append(cells("pinned .to(cuda, non_blocking)",
                      time_steps(lambda i: pinned.to("cuda", non_blocking=True), steps, warmup, sync), True))
    model, optimizer = _cuda_model(name)
    video = host.to("cuda")
    side = torch.cuda.Stream()

    def step(i: int) -> None:
        amp_step(model, optimizer, video, 1 + i)

    def step_with_pageable_copy(i: int) -> None:
        host.to("cuda")  # the next batch: the host waits for it before it queues the step
        step(i)

    def step_with_pinned_copy(i: int) -> None:
        with torch.cuda.stream(side):  # the next batch, on a side stream: it overlaps the step's kernels
            next_batch = pinned.to("cuda", non_blocking=True)
        step(i)
        torch.cuda.current_stream().wait_stream(side)  # what a prefetcher does before the next step uses it
        next_batch.record_stream(torch.cuda.current_stream())

    for label, fn in (("step alone (fp32, SDPA default)", step),
                      ("step + pageable copy of the next batch", step_with_pageable_copy),
                      ("step + pinned non_blocking copy (side stream)", step_with_pinned_copy)):
        rows.append(cells(label, time_steps(fn, steps, warmup, sync), False))
    return rows


def gpu_section(configs: list[str], steps: int, warmup: int) -> None:
    """Time the CUDA recipe of the V-JEPA step for each of ``configs`` and print a table per config; without a CUDA
    device print :data:`SKIP_LINE` and return."""
    if not torch.cuda.is_available():
        print(SKIP_LINE, flush=True)
        return
    from aegis import plugins

    plugins.load()
    major, minor = torch.cuda.get_device_capability()
    print(f"\nGPU section: {torch.cuda.get_device_name()} (compute capability {major}.{minor}), torch "
          f"{torch.__version__}, CUDA {torch.version.cuda}; median [range] of {steps} steps after {warmup} warm-up; "
          "peak = torch.cuda.max_memory_allocated", flush=True)
    for name in configs:
        c = CONFIGS[name]
        print(f"\n{name} (B{c['batch']}, {c['num_frames']}x{c['img_size']}x{c['img_size']}, patch {c['patch_size']},"
              f" D{c['embed_dim']}x{c['depth']}, predictor {c['pred_dim']}x{c['pred_depth']})", flush=True)
        results = []
        for variant in VARIANTS:
            try:
                results.append(run_variant(name, variant, steps, warmup))
            except Exception as exc:  # one failing variant (no bf16, out of memory) must not end the section
                print(f"  {variant.name}: failed: {_one_line(exc)}", flush=True)
                results.append(dict(variant=variant.name, error=_one_line(exc)))
            _release()  # after the except block has dropped the traceback, which holds the variant's tensors
        print(format_table(STEP_HEADER, [step_cells(r, results[0]) for r in results]), flush=True)
        try:
            copies = run_copies(name, steps, warmup)
        except Exception as exc:
            copies = None
            print(f"  host-to-device copies: failed: {_one_line(exc)}", flush=True)
        _release()
        if copies is not None:
            print(format_table(COPY_HEADER, copies), flush=True)
