"""benchmarks/vjepa_step.py's side-by-side mode, run end to end against a test double of facebookresearch/jepa's
interface (tests/benchmarks/fake_official_jepa: the real checkout is not in this repository)."""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
FAKE_OFFICIAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_official_jepa")

import vjepa_step  # noqa: E402

QUICK = ["--configs", "tiny", "--rounds", "1", "--steps", "2", "--warmup", "1"]


def test_side_by_side_times_both_on_the_same_work_and_gives_the_ratio(capsys):
    import torch

    threads = torch.get_num_threads()
    assert vjepa_step.main(["--official-root", FAKE_OFFICIAL, *QUICK, "--threads", str(threads + 1)]) == 0
    assert torch.get_num_threads() == threads  # the caller's count comes back (the test session runs on 1)
    out = capsys.readouterr().out
    vit = sys.modules["src.models.vision_transformer"]
    assert vit.__file__.startswith(FAKE_OFFICIAL)  # imported from the root it was pointed to
    # per step the target encoder once and the context encoder once per mask group (2); steps: the loss check,
    # one warm-up, two timed (the FLOP count runs AEGIS only)
    assert vit.FORWARD_CALLS == 3 * (1 + 1 + 2)
    check = next(line for line in out.splitlines() if "first-step loss" in line)
    assert "(the same work)" in check
    aegis = next(line for line in out.splitlines() if "AEGIS:" in line)
    official = next(line for line in out.splitlines() if "official:" in line)
    assert "x the official step" in aegis and "of the ceiling" in aegis and "clips/s" in official
    assert "No ratio" not in out


def test_without_the_official_checkout_no_ratio_is_given(capsys):
    assert vjepa_step.main(["--configs", "tiny", "--rounds", "1", "--steps", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "No ratio against the official implementation" in out and "x the official step" not in out
    assert "AEGIS:" in out and "official:" not in out


def test_an_official_side_computing_something_else_is_flagged():
    official = vjepa_step.load_official(FAKE_OFFICIAL)
    official.vit.OUTPUT_SHIFT = 0.5  # the double's encoder now returns other features
    try:
        result = vjepa_step.run_config("tiny", steps=1, warmup=0, official=official)
    finally:
        official.vit.OUTPUT_SHIFT = 0.0
    assert not vjepa_step.same_work(*result["loss_check"])
    assert vjepa_step.same_work(0.8306651, 0.8306652) and not vjepa_step.same_work(0.830621, 0.830665)


def test_a_folder_that_is_not_a_checkout_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"src/models/vision_transformer\.py is not there.*facebookresearch/jepa"):
        vjepa_step.load_official(tmp_path)


def test_step_flops_equal_the_flop_counter_on_the_step_with_math_attention():
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    model, _ = vjepa_step.build_aegis("tiny")
    c = vjepa_step.CONFIGS["tiny"]
    video = torch.randn(c["batch"], 3, c["num_frames"], c["img_size"], c["img_size"])
    masks = model.sample_masks(c["batch"], torch.Generator().manual_seed(0))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:  # attention as bmm: counted
        sum(model.loss(video, masks).values()).backward()
    assert vjepa_step.step_flops("tiny", masks) == pytest.approx(counter.get_total_flops(), rel=0.005)
