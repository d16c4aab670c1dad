"""Surprise as an alert (issue #14): the surprise curve of a video file, find_jumps, the CSV/PNG and `aegis surprise`.

A tiny V-JEPA pretrainer is trained for a few seconds on two looping scenes (a yellow blob circling on blue, a pink
blob circling on green) with a future-prediction mask, saved as a checkpoint and scored on real H.264 files: a video
whose second half repeats its first gives a flat, exactly periodic curve; the same first half cut to the other scene
makes the curve jump at the cut.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from aegis.cli import main
from aegis.engine.checkpoint import atomic_save
from aegis_plugins.data.video_io import write_video
from aegis_plugins.models.surprise import load_pretrainer
from aegis_plugins.models.surprise_report import (find_jumps, format_time, preprocessing_of, read_video_frames,
                                                  video_surprise)

REPO = Path(__file__).resolve().parents[3]
FPS = 8
PERIOD = 16  # frames of one loop of a scene
CUT_FRAME = 32  # the cut video switches scene here: 4.0 s


def _scene(num_frames: int, blob: tuple, background: tuple, radius: float) -> np.ndarray:
    """(T, 32, 32, 3) uint8: a Gaussian blob circling the centre once every PERIOD frames."""
    yy, xx = np.mgrid[0:32, 0:32]
    frames = np.empty((num_frames, 32, 32, 3), np.float32)
    for t in range(num_frames):
        angle = 2 * math.pi * t / PERIOD
        cx, cy = 16 + radius * math.cos(angle), 16 + radius * math.sin(angle)
        weight = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 3.0 ** 2))[..., None]  # (32, 32, 1)
        frames[t] = np.array(background) * (1 - weight) + np.array(blob) * weight
    return frames.clip(0, 255).astype(np.uint8)


def scene_a(n: int) -> np.ndarray:
    return _scene(n, (255, 220, 40), (20, 30, 90), radius=9)


def scene_b(n: int) -> np.ndarray:
    return _scene(n, (240, 40, 200), (30, 150, 40), radius=6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny pretrainer (the tiny experiment at width 32, one future-mask group) trained ~150 steps on both
    scenes, its experiment file, its checkpoint, and the videos: ``repeat`` (64 frames of scene A, so its second
    half repeats its first exactly) and ``cut`` (32 frames of A, then 32 of B). crf=0: repeated frames decode
    identically."""
    root = tmp_path_factory.mktemp("surprise")
    experiment = root / "vjepa_surprise_tiny.py"
    experiment.write_text(
        f"_base_ = [{str(REPO / 'experiments' / 'vjepa_pretrain_tiny.py')!r}]\n"
        "model = dict(encoder=dict(embed_dim=32, depth=2, num_heads=2),\n"
        "             predictor=dict(embed_dim=32, depth=2, num_heads=2),\n"
        "             mask_generators=[dict(type='FutureMaskGenerator', future_steps=1)],\n"
        "             losses=[dict(type='LatentReconstructionLoss', norm='l1')])\n")
    videos = dict(repeat=write_video(str(root / "repeat.mp4"), scene_a(64), fps=FPS, crf=0),
                  other=write_video(str(root / "other.mp4"), scene_b(64), fps=FPS, crf=0),
                  cut=write_video(str(root / "cut.mp4"), np.concatenate([scene_a(32), scene_b(32)]), fps=FPS, crf=0))
    torch.manual_seed(0)
    model, cfg = load_pretrainer(str(experiment), "random")
    prep = preprocessing_of(model, cfg)
    scenes = [prep.normalize(dict(inputs=read_video_frames(videos[name], prep, frame_step=1)["frames"]))["inputs"]
              for name in ("repeat", "other")]  # (C, 64, 32, 32) each
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(150):
        picks = torch.randint(0, 2, (8,)).tolist()
        starts = torch.randint(0, 64 - 8 + 1, (8,)).tolist()
        clips = torch.stack([scenes[p][:, s:s + 8] for p, s in zip(picks, starts)])  # (8, C, 8, 32, 32)
        loss = sum(model(clips, mode="loss").values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    checkpoint = root / "epoch_1.pth"
    atomic_save({"state_dict": model.state_dict(), "meta": {"epoch": 1}}, checkpoint)
    return dict(model=model, cfg=cfg, experiment=str(experiment), checkpoint=str(checkpoint), root=root, **videos)


# -- find_jumps on hand-made curves ------------------------------------------------------------------------------
def test_find_jumps_names_a_step_once_at_its_onset():
    rng = np.random.default_rng(0)
    values = 1.0 + 0.01 * rng.standard_normal(100)
    values[60:] += 1.0
    times = np.arange(100) * 0.5
    jumps = find_jumps(times, values)
    assert [j.index for j in jumps] == [60]
    assert jumps[0].time_s == 30.0 and jumps[0].label == "00:30.0"
    assert jumps[0].ratio == pytest.approx(2.0, abs=0.1)


def test_find_jumps_names_each_spike_with_its_peak():
    rng = np.random.default_rng(1)
    values = 1.0 + 0.02 * rng.standard_normal(120)
    values[40] = 3.0
    values[90:92] = (2.0, 2.5)  # a jump that peaks one value after its onset
    jumps = find_jumps(np.arange(120) / 10, values)
    assert [(j.index, j.peak_index) for j in jumps] == [(40, 40), (90, 91)]
    assert jumps[1].value == 2.5 and "sudden change at 00:09.0 (surprise 2.5" in jumps[1].describe()


def test_find_jumps_merges_what_one_window_span_sees():
    """A cut moves every window over it: the curve rises, dips and rises again within one window length."""
    values = np.full(60, 0.12)
    values[25:31] = (0.45, 0.62, 0.51, 0.26, 0.37, 0.2)  # the bump of one cut (windows of 8 values)
    values[33] = 0.5  # another event, one window length after the first: the curve fell back in between
    values[45:55] = (0.4, 0.3, 0.45, 0.35, 0.5, 0.4, 0.3, 0.45, 0.35, 0.4)  # a surge longer than a window: one jump
    assert [j.index for j in find_jumps(np.arange(60), values)] == [25, 29, 33, 45]
    jumps = find_jumps(np.arange(60), values, merge_within=8)
    assert [(j.index, j.peak_index) for j in jumps] == [(25, 26), (33, 33), (45, 49)]


def test_find_jumps_ignores_noise_and_slow_drift():
    rng = np.random.default_rng(2)
    noise = 1.0 + 0.05 * rng.standard_normal(300)
    drift = np.linspace(1.0, 3.0, 300) + 0.01 * rng.standard_normal(300)
    assert find_jumps(np.arange(300), noise) == []
    assert find_jumps(np.arange(300), drift) == []
    assert find_jumps(np.arange(50), np.full(50, 0.3)) == []


def test_format_time_rounds_to_tenths():
    assert [format_time(s) for s in (4.24, 59.96, 0.0, 3725.04)] == ["00:04.2", "01:00.0", "00:00.0", "1:02:05.0"]


# -- reading -----------------------------------------------------------------------------------------------------
def test_frames_are_read_every_step_centre_cropped_and_normalised_like_the_eval_pipeline(tmp_path, trained):
    grey = np.full((40, 48, 64, 3), 128, np.uint8)
    grey[:, :, :8] = (255, 0, 0)  # a red strip at the left edge: the centre crop of the shorter side removes it
    path = write_video(str(tmp_path / "wide.mp4"), grey, fps=FPS, crf=0)
    prep = preprocessing_of(trained["model"], trained["cfg"])
    assert prep.frame_step == 4  # the experiment's frame_sample_rate
    read = read_video_frames(path, prep)
    assert read["frames"].shape == (3, 10, 32, 32) and read["indices"] == list(range(0, 40, 4))
    assert not read["truncated"]
    inputs = prep.normalize(dict(inputs=read["frames"]))["inputs"]
    expected = (128 / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(inputs.mean(dim=(1, 2, 3)), expected, atol=0.03)
    short = read_video_frames(path, prep, frame_step=1, max_frames=12)
    assert short["truncated"] and short["indices"] == list(range(12))


# -- the surprise curve of a video -------------------------------------------------------------------------------
def test_a_repeating_video_gives_a_flat_curve_and_a_cut_makes_it_jump(trained):
    model, cfg = trained["model"], trained["cfg"]
    repeat = video_surprise(model, cfg, trained["repeat"], frame_step=1, batch_windows=16)
    cut = video_surprise(model, cfg, trained["cut"], frame_step=1)
    values, cut_values = np.array(repeat.values), np.array(cut.values)
    assert len(values) == 64 - 8 + 1 and repeat.frames[0] == 6  # windows of 8 frames, reported at frame 6
    assert np.allclose(values[PERIOD:], values[:-PERIOD], atol=1e-5)  # windows that repeat score the same
    assert (values.max() - values.min()) / np.median(values) < 0.5
    assert find_jumps(repeat.times, repeat.values, merge_within=repeat.window_values) == []
    before_cut = [i for i, f in enumerate(cut.frames) if f + 2 <= CUT_FRAME - 1]  # predicted frames before the cut
    assert np.allclose(cut_values[before_cut], values[before_cut], atol=1e-5)
    assert cut_values.max() > 2.5 * values.max()
    assert cut.window_values == 8
    jumps = find_jumps(cut.times, cut.values, merge_within=cut.window_values)
    assert len(jumps) == 1
    assert abs(jumps[0].time_s - CUT_FRAME / FPS) <= 1 / FPS
    assert jumps[0].label in ("00:03.9", "00:04.0")


# -- the command -------------------------------------------------------------------------------------------------
def _command(trained, video, out, *extra):
    return main(["surprise", video, "--checkpoint", trained["checkpoint"], "--experiment", trained["experiment"],
                 "--out", str(out), *extra])


def test_command_writes_the_curve_and_names_the_cut(trained, tmp_path, capsys):
    out = tmp_path / "cut_report"
    assert _command(trained, trained["cut"], out, "--frame-step", "1") == 0
    printed = capsys.readouterr().out
    alerts = [line for line in printed.splitlines() if line.startswith("sudden change at ")]
    assert len(alerts) == 1 and alerts[0].split()[3] in ("00:03.9", "00:04.0"), printed
    assert f"wrote {out / 'surprise.csv'}" in printed and f"wrote {out / 'surprise.png'}" in printed
    with open(out / "surprise.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["time_s", "frame", "surprise"]
    assert len(rows) - 1 == 64 - 8 + 1
    times = [float(r[0]) for r in rows[1:]]
    assert times == sorted(times) and times[0] == pytest.approx(6 / FPS)
    assert max(float(r[-1]) for r in rows[1:]) > 0
    png = (out / "surprise.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_command_reads_every_training_step_frame_by_default_and_reports_no_change(trained, tmp_path, capsys):
    out = tmp_path / "repeat_report"
    assert _command(trained, trained["repeat"], out) == 0
    printed = capsys.readouterr().out
    assert "no sudden change" in printed
    with open(out / "surprise.csv", newline="") as handle:
        frames = [int(r["frame"]) for r in csv.DictReader(handle)]
    assert frames == list(range(24, 57, 4))  # 16 frames every 4th: 9 windows of 8, each reported at its 7th
    assert _command(trained, trained["repeat"], tmp_path / "first", "--frame-step", "1", "--max-frames", "20") == 0
    assert "note: only the first 20 sampled frames" in capsys.readouterr().out
    assert len((tmp_path / "first" / "surprise.csv").read_text().splitlines()) == 1 + 20 - 8 + 1


def test_command_names_a_file_that_is_not_a_video(trained, tmp_path, capsys):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is a text file, not a video\n" * 20)
    assert _command(trained, str(fake), tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("DataError: ") and str(fake) in err and "not a readable video" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert _command(trained, str(tmp_path / "missing.mp4"), tmp_path / "out") == 2
    assert "missing.mp4 is not a readable video: no such file" in capsys.readouterr().err
    short = write_video(str(tmp_path / "short.mp4"), scene_a(12), fps=FPS)
    assert _command(trained, short, tmp_path / "out") == 2  # 3 frames at every 4th: fewer than a window of 8
    err = capsys.readouterr().err
    assert err.startswith(f"DataError: {short}: 3 frames read (every 4th frame of 12)") and "--frame-step" in err


def test_command_refuses_a_checkpoint_that_is_not_a_vjepa_pretrainer(trained, tmp_path, capsys):
    other = tmp_path / "classifier.pth"
    atomic_save({"state_dict": {"head.weight": torch.zeros(4, 4)}}, other)
    code = main(["surprise", trained["repeat"], "--checkpoint", str(other), "--experiment", trained["experiment"],
                 "--out", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err.startswith("CheckpointError: ")


def test_infer_tool_writes_the_surprise_curve_with_only_a_pretraining_checkpoint(trained, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("infer_tool", REPO / "tools" / "infer.py")
    infer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer)
    out = tmp_path / "infer_surprise"
    assert infer.main(["--video", trained["cut"], "--surprise", trained["checkpoint"], "--surprise-experiment",
                       trained["experiment"], "--surprise-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"surprise of {trained['cut']}" in printed and (out / "surprise.csv").is_file()
    assert len((out / "surprise.csv").read_text().splitlines()) > 2  # a header and one row per window
    assert "ALERT" not in printed  # no captioner checkpoint: no caption
