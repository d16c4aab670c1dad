"""Clips per second through the video data layer: decord vs PyAV, 0/1/2 DataLoader workers, two kinds of files.

    python benchmarks/data_throughput.py [--seconds 4] [--workers 0 1 2] [--backends pyav decord] [--json OUT]

Measures, for 16-frame clips taken every 2 frames:
  * the bare reader on one 320x240 H.264 file (reader kept open, and a new open per clip), as a ceiling;
  * the full dataset pipeline (open, verified frame count, random-start sampling, decode, resize/crop to 64 (synthetic)
    or 224 (320x240), tensor, normalise) through a DataLoader (batch 8) with 0, 1 and 2 workers, on the synthetic set
    (64x64, 32 frames) and on 320x240 25 fps files of 10 s.
Files are generated in a temporary folder first (not timed). Numbers depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch


def _textured(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """A camera-like scene: a large random texture panning 3 px per frame with per-frame sensor noise."""
    rng = np.random.default_rng(seed)
    base = rng.random((height // 8 + 2, (width + 3 * num_frames) // 8 + 2, 3))
    tex = (torch.nn.functional.interpolate(torch.from_numpy(base).permute(2, 0, 1)[None].float(), scale_factor=8,
                                           mode="bilinear")[0].permute(1, 2, 0).numpy() * 200 + 20)
    frames = np.stack([tex[:height, 3 * i:3 * i + width] for i in range(num_frames)])
    frames += rng.normal(0, 4, frames.shape)
    return np.clip(frames, 0, 255).astype(np.uint8)


def make_files(root: str, count: int = 4, keyint: int = 25) -> tuple[str, str]:
    """(synthetic captions.json, 320x240 captions.json) under ``root``; 320x240 files get a keyframe every
    ``keyint`` frames (25 = 1 s, as phone and drone cameras write; x264's own default is 250)."""
    from aegis_plugins.data.synthetic import generate_dataset
    from aegis_plugins.data.video_io import write_video

    synthetic = generate_dataset(os.path.join(root, "synthetic"), num_videos=200, seed=0, size=64, frames=32)
    entries = []
    for i in range(count):
        rel = f"v{i}.mp4"
        write_video(os.path.join(root, "qvga", rel), _textured(250, 240, 320, i), fps=25, preset="veryfast", crf=23,
                    keyint=keyint)
        entries.append(dict(video_path=rel, caption=f"video {i}"))
    qvga = os.path.join(root, "qvga", "captions.json")
    with open(qvga, "w") as f:
        json.dump(entries, f)
    return synthetic, qvga


def _timed(step, seconds: float) -> float:
    step()  # warm up (imports, first open)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += step()
    return n / (time.perf_counter() - start)


def bare_reader(path: str, backend: str, reopen: bool, seconds: float) -> float:
    """Clips/s of 16 frames every 2 from one file, straight from the backend reader."""
    from aegis_plugins.data.sampling import sample_clip_indices
    from aegis_plugins.data.video_io import open_video

    reader = open_video(path, backend, verify_frame_count=False)

    def step() -> int:
        nonlocal reader
        if reopen:
            reader = open_video(path, backend, verify_frame_count=False)
        idx = sample_clip_indices(reader.num_frames, 16, 2)[0]
        reader.get_frames(idx)
        return 1

    return _timed(step, seconds)


def pipeline_loader(ann: str, backend: str, workers: int, size: int | None, seconds: float) -> float:
    """Clips/s through VideoCaptionDataset + the training pipeline + DataLoader(batch 8, ``workers``); with
    ``size=None`` the pipeline only opens, samples, decodes and makes uint8 tensors (the framework's own cost)."""
    from torch.utils.data import DataLoader

    from aegis_plugins.data.collate import video_collate
    from aegis_plugins.data.datasets import VideoCaptionDataset

    pipeline = [dict(type="VideoInit", backend=backend), dict(type="SampleFrames", video_length=16,
                                                              frame_sample_rate=2),
                dict(type="VideoDecode"), dict(type="ResizeShorterSide", size=size),
                dict(type="RandomResizedCrop", size=size, scale=(0.5, 1.0)), dict(type="RandomHorizontalFlip"),
                dict(type="ToTensorVideo"), dict(type="NormalizeVideo")]
    if size is None:
        pipeline = pipeline[:3] + [dict(type="ToTensorVideo")]
    dataset = VideoCaptionDataset(ann, pipeline=pipeline)
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=10 ** 6)
    loader = DataLoader(dataset, batch_size=8, sampler=sampler, num_workers=workers, collate_fn=video_collate,
                        persistent_workers=workers > 0, prefetch_factor=2 if workers else None)
    it = iter(loader)

    def step() -> int:
        return next(it)["inputs"].shape[0]

    rate = _timed(step, seconds)
    del it, loader
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="time per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backends", nargs="+", default=["pyav", "decord"])
    parser.add_argument("--keyint", type=int, default=25, help="keyframe interval of the 320x240 files (frames)")
    parser.add_argument("--root", default=None, help="folder for the generated files (default: a temp folder)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from aegis import plugins
    plugins.load()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or tmp
        synthetic, qvga = make_files(root, keyint=args.keyint)
        one_file = os.path.join(os.path.dirname(qvga), "v0.mp4")
        results = []
        print(f"320x240 files: 250 frames at 25 fps, keyframe every {args.keyint} frames; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'measure':52s} {'backend':8s} clips/s")
        for backend in args.backends:
            for reopen in (False, True):
                rate = bare_reader(one_file, backend, reopen, args.seconds)
                name = f"bare reader, 320x240, {'new open per clip' if reopen else 'reader kept open'}"
                results.append(dict(measure=name, backend=backend, clips_per_s=round(rate, 1)))
                print(f"{name:52s} {backend:8s} {rate:7.1f}", flush=True)
        for backend in args.backends:
            rate = pipeline_loader(qvga, backend, 0, None, args.seconds)
            name = "dataset pipeline, 320x240 decode only, 0 worker(s)"
            results.append(dict(measure=name, backend=backend, clips_per_s=round(rate, 1)))
            print(f"{name:52s} {backend:8s} {rate:7.1f}", flush=True)
        for label, ann, size in (("synthetic 64x64", synthetic, 64), ("320x240 -> 224", qvga, 224)):
            for workers in args.workers:
                for backend in args.backends:
                    rate = pipeline_loader(ann, backend, workers, size, args.seconds)
                    name = f"dataset pipeline, {label}, {workers} worker(s)"
                    results.append(dict(measure=name, backend=backend, clips_per_s=round(rate, 1)))
                    print(f"{name:52s} {backend:8s} {rate:7.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
