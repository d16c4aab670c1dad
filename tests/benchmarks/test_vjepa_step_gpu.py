"""benchmarks/vjepa_step_gpu.py: the skip line without CUDA, the timing and table helpers, its step against
vjepa_step.aegis_step (fp32, through the loss scaler, under autocast) on CPU, and the whole section on a GPU."""
import copy
import os
import sys
import time

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import vjepa_step  # noqa: E402
import vjepa_step_gpu  # noqa: E402
from vjepa_step_gpu import (SKIP_LINE, amp_step, copy_stats, format_table, gpu_section,  # noqa: E402
                            set_activation_checkpointing, step_cells, time_steps)

from aegis.build import build_component  # noqa: E402
from aegis.registry import MODELS  # noqa: E402


def _tiny_model():
    """A tiny JEPAPretrainer (2 layers of width 32, 4 frames at 16 px) and its AdamW, as build_aegis sets it up."""
    torch.manual_seed(0)
    model = build_component(dict(
        type="JEPAPretrainer",
        encoder=dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8,
                     tubelet_size=2, num_frames=4, img_size=16),
        predictor=dict(type="JEPAPredictor", embed_dim=16, depth=1, num_heads=2),
        mask_generators=[dict(type="RandomTubeMaskGenerator", mask_ratio=0.5),
                         dict(type="MultiBlock3DMaskGenerator", num_blocks=1, mask_ratio=0.5)]), MODELS)
    model.train()
    return model, torch.optim.AdamW(model.parameters(), lr=vjepa_step.LR, weight_decay=vjepa_step.WEIGHT_DECAY)


def _pair():
    """Two identical (model, optimizer) pairs and a batch of clips (B, C, T, H, W)."""
    model, optimizer = _tiny_model()
    twin = copy.deepcopy(model)
    twin_optimizer = torch.optim.AdamW(twin.parameters(), lr=vjepa_step.LR, weight_decay=vjepa_step.WEIGHT_DECAY)
    video = torch.randn(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    return (model, optimizer), (twin, twin_optimizer), video


def _same_parameters(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device: the section runs")
def test_without_cuda_the_section_prints_one_skip_line(capsys):
    start = time.perf_counter()
    gpu_section(["tiny", "small"], 10, 3)
    assert capsys.readouterr().out == SKIP_LINE + "\n"
    assert SKIP_LINE == "GPU section skipped: no CUDA device (torch.cuda.is_available() is False)."
    assert time.perf_counter() - start < 0.5  # nothing was built


def test_time_steps_times_only_the_steps_after_warmup_between_synchronisations():
    events = []

    def step(i):
        events.append(("step", i))
        if i >= 2:
            time.sleep(0.01)

    times = time_steps(step, steps=3, warmup=2, synchronize=lambda: events.append("sync"))
    assert len(times) == 3 and all(t >= 0.01 for t in times)  # the warm-up steps (no sleep) are not among them
    assert events == [e for i in range(5) for e in ("sync", ("step", i), "sync")]
    with pytest.raises(ValueError, match="steps=0 must be >= 1"):
        time_steps(step, steps=0, warmup=1)


def test_copy_stats_gives_median_range_and_bandwidth():
    stats = copy_stats([0.002, 0.001, 0.004], nbytes=4_000_000)
    assert stats == pytest.approx(dict(ms=2.0, low_ms=1.0, high_ms=4.0, gb_per_s=2.0))


def test_the_step_table_shows_rates_ranges_memory_ratios_and_failures():
    reference = dict(vjepa_step.spread([0.1, 0.2, 0.4], 8), variant="fp32, SDPA math only", peak_mib=512.4)
    faster = dict(vjepa_step.spread([0.05, 0.1, 0.1], 8), variant="bf16 autocast", peak_mib=300.0)
    failed = dict(variant="fp16 autocast + GradScaler", error="RuntimeError: no")
    rows = [step_cells(r, reference) for r in (reference, faster, failed)]
    assert rows[0] == ["fp32, SDPA math only", "40.0", "[20.0-80.0]", "200.0", "512", "1.00x"]
    assert rows[1] == ["bf16 autocast", "80.0", "[80.0-160.0]", "100.0", "300", "2.00x"]
    assert rows[2] == ["fp16 autocast + GradScaler", "failed", "", "", "", ""]
    assert step_cells(faster, failed)[-1] == "-"  # no ratio to a reference that failed
    assert format_table(vjepa_step_gpu.STEP_HEADER, rows).splitlines() == [
        "variant                     clips/s       [range]  step ms  peak MiB  vs row 1",
        "--------------------------  -------  ------------  -------  --------  --------",
        "fp32, SDPA math only           40.0   [20.0-80.0]    200.0       512     1.00x",
        "bf16 autocast                  80.0  [80.0-160.0]    100.0       300     2.00x",
        "fp16 autocast + GradScaler   failed",
    ]


def test_the_fp32_step_is_aegis_step():
    (model, optimizer), (twin, twin_optimizer), video = _pair()
    for seed in (1, 2):
        ours = amp_step(model, optimizer, video, seed)
        theirs = vjepa_step.aegis_step(twin, twin_optimizer, video, seed)
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert _same_parameters(model, twin)  # the same AdamW and EMA updates
    assert not _same_parameters(model, _tiny_model()[0])  # ... which did change the weights


def test_the_loss_scaler_path_scales_checks_and_gives_the_unscaled_update():
    (model, optimizer), (twin, twin_optimizer), video = _pair()
    scaler = torch.amp.GradScaler("cpu")  # the same API as GradScaler("cuda"); fp32 here, so no overflow
    for seed in (1, 2):
        amp_step(model, optimizer, video, seed, scaler=scaler)
        amp_step(twin, twin_optimizer, video, seed)
    assert scaler.state_dict()["_growth_tracker"] == 2  # update() ran after two finite steps
    assert scaler.get_scale() == 2.0 ** 16
    assert _same_parameters(model, twin)  # scaling by 2^16 and unscaling is exact: the same update


def test_the_autocast_step_computes_the_loss_in_the_lower_precision():
    (model, optimizer), (twin, twin_optimizer), video = _pair()
    low = amp_step(model, optimizer, video, 1, dtype=torch.bfloat16)
    full = amp_step(twin, twin_optimizer, video, 1)
    for name in full:
        assert low[name].dtype == torch.float32  # the model returns fp32 terms (it casts predictions and targets)
        torch.testing.assert_close(low[name], full[name], rtol=0.05, atol=1e-3)
    assert any(not torch.equal(low[k], full[k]) for k in full)  # ... computed through bf16 matmuls


def test_activation_checkpointing_is_switched_on_the_context_encoder_and_predictor_and_changes_no_result():
    (model, optimizer), (twin, twin_optimizer), video = _pair()
    set_activation_checkpointing(model, True)
    assert model.encoder.gradient_checkpointing and model.predictor.gradient_checkpointing
    assert not model.target_encoder.gradient_checkpointing  # no gradients there, nothing to save
    for seed in (1, 2):
        ours, theirs = amp_step(model, optimizer, video, seed), amp_step(twin, twin_optimizer, video, seed)
        for name in ours:
            torch.testing.assert_close(ours[name], theirs[name])  # recomputing activations changes no result
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q)
    set_activation_checkpointing(model, False)
    assert not model.encoder.gradient_checkpointing and not model.predictor.gradient_checkpointing
    del model.predictor.gradient_checkpointing  # a predictor without the flag
    with pytest.raises(RuntimeError, match="JEPAPredictor has no gradient_checkpointing flag"):
        set_activation_checkpointing(model, True)


def test_checkpointing_saves_fewer_activations_for_backward():
    (model, _), (twin, _), video = _pair()
    set_activation_checkpointing(model, True)

    def saved(m) -> int:
        count = 0

        def pack(t):
            nonlocal count
            count += t.numel()
            return t

        masks = m.sample_masks(video.shape[0], torch.Generator().manual_seed(1))
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            sum(m.loss(video, masks).values())
        return count

    assert saved(model) < saved(twin)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_gpu_section_runs_every_variant_and_the_copies_on_tiny(capsys):
    gpu_section(["tiny"], 2, 1)
    out = capsys.readouterr().out
    assert "GPU section: " in out and "compute capability" in out
    for variant in vjepa_step_gpu.VARIANTS:
        rows = [line for line in out.splitlines() if line.startswith(variant.name + "  ")]
        assert len(rows) == 1, (variant.name, out)
        if variant.dtype is not torch.bfloat16 or torch.cuda.is_bf16_supported():  # only bf16 may be missing
            assert "failed" not in rows[0], out
    for label in ("pageable .to(cuda)", "pinned .to(cuda, non_blocking)", "step alone (fp32, SDPA default)",
                  "step + pinned non_blocking copy (side stream)"):
        assert any(line.startswith(label) for line in out.splitlines()), out
