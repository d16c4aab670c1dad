"""Clips per second through the video data layer: PyAV vs decord vs torchcodec, 0/1/2 DataLoader workers.

    python benchmarks/data_throughput.py [--seconds 4] [--repeats 3] [--workers 0 1 2]
        [--backends pyav decord torchcodec] [--sections bare pipeline] [--json OUT]

Measures, for 16-frame clips taken every 2 frames:
  * the bare reader on one 320x240 H.264 file and on one 1280x720 (720p) H.264 file (reader kept open, and a new open
    per clip), as a ceiling; torchcodec (PyTorch's decoder, ``VideoDecoder.get_frames_at``) is measured here beside
    the two ``aegis_plugins.data.video_io`` backends, in its frame-exact ``seek_mode="exact"`` (a scan of the file at
    open, like the readers' verified frame count) and in ``"approximate"`` (header metadata only);
  * the full dataset pipeline (open, verified frame count, random-start sampling, decode, resize/crop to 64 (synthetic)
    or 224 (320x240), tensor, normalise) through a DataLoader (batch 8) with 0, 1 and 2 workers, on the synthetic set
    (64x64, 32 frames) and on 320x240 25 fps files of 10 s (video_io backends only: torchcodec is not one).
torchcodec on a CPU-only torch: the PyPI wheel (0.17.0, the only one pip finds here) is a CUDA 13 build; it links
libtorch_cuda, libc10_cuda, libcudart.so.13 and libnvrtc.so.13, which the CPU torch 2.13.0+cpu does not ship, and the
system FFmpeg 4-8 shared libraries, which this machine does not have, so ``import torchcodec`` fails. The CPU wheel is
on download.pytorch.org, which pip cannot reach here. ``--torchcodec-cpu-shim DIR`` measures its CPU decoder anyway:
it builds stand-ins for the CUDA runtime symbols (never called on the CPU path), points the FFmpeg 8 names at PyAV's
bundled FFmpeg 8 (so both decode with the same FFmpeg) and re-runs this script with them on LD_LIBRARY_PATH (needs gcc):
``pip install --no-deps --target /tmp/tc torchcodec && PYTHONPATH=/tmp/tc python benchmarks/data_throughput.py
--sections bare --torchcodec-cpu-shim /tmp/tcshim``.
Each measurement runs ``--repeats`` times for ``--seconds``; the median and the range (min-max) are printed. The
backends of one measurement take turns in rounds (the order rotating), and after each measurement the ratio of every
backend's median to PyAV's (or, without PyAV, the first backend's) in this same run is printed; with a single backend
the script says that no ratio is given. Every decoder uses one thread. A backend that cannot be imported is reported
with the reason and skipped. Files are generated in a temporary folder first (not timed). Numbers depend on the
machine and its load (printed before and after).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch


def _textured(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """A camera-like scene: a large random texture panning 3 px per frame with per-frame sensor noise; (T, H, W, 3)
    uint8, built a frame at a time (a 720p clip stays a few hundred MB)."""
    rng = np.random.default_rng(seed)
    base = rng.random((height // 8 + 2, (width + 3 * num_frames) // 8 + 2, 3))
    tex = (torch.nn.functional.interpolate(torch.from_numpy(base).permute(2, 0, 1)[None].float(), scale_factor=8,
                                           mode="bilinear")[0].permute(1, 2, 0).numpy() * 200 + 20)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        noisy = tex[:height, 3 * i:3 * i + width] + rng.normal(0, 4, (height, width, 3)).astype(np.float32)
        frames[i] = np.clip(noisy, 0, 255)
    return frames


def make_files(root: str, count: int = 4, keyint: int = 25, synthetic: bool = True) -> tuple[str | None, str, str]:
    """(synthetic captions.json or None, 320x240 captions.json, one 720p file) under ``root``; the camera-like files
    get a keyframe every ``keyint`` frames (25 = 1 s, as phone and drone cameras write; x264's own default is 250).
    The 320x240 files have 250 frames (10 s at 25 fps), the 720p file 100 (4 s)."""
    from aegis_plugins.data.synthetic import generate_dataset
    from aegis_plugins.data.video_io import write_video

    synthetic_ann = (generate_dataset(os.path.join(root, "synthetic"), num_videos=200, seed=0, size=64, frames=32)
                     if synthetic else None)
    entries = []
    for i in range(count):
        rel = f"v{i}.mp4"
        write_video(os.path.join(root, "qvga", rel), _textured(250, 240, 320, i), fps=25, preset="veryfast", crf=23,
                    keyint=keyint)
        entries.append(dict(video_path=rel, caption=f"video {i}"))
    qvga = os.path.join(root, "qvga", "captions.json")
    with open(qvga, "w") as f:
        json.dump(entries, f)
    hd = write_video(os.path.join(root, "hd", "v0.mp4"), _textured(100, 720, 1280, 100), fps=25, preset="veryfast",
                     crf=23, keyint=keyint)
    return synthetic_ann, qvga, hd


class TorchcodecReader:
    """torchcodec's ``VideoDecoder`` behind the readers' interface, for this benchmark: ``get_frames(indices)``
    returns (T, H, W, 3) uint8 like the ``video_io`` readers (one FFmpeg thread, CPU)."""

    def __init__(self, path: str, seek_mode: str = "exact") -> None:
        from torchcodec.decoders import VideoDecoder

        self._decoder = VideoDecoder(path, device="cpu", seek_mode=seek_mode, dimension_order="NHWC",
                                     num_ffmpeg_threads=1)
        self.num_frames = len(self._decoder)

    def get_frames(self, indices) -> np.ndarray:
        return self._decoder.get_frames_at([int(i) for i in indices]).data.numpy()  # (T, H, W, 3)


def importable(backend: str) -> str | None:
    """None when ``backend`` can be used here, else why not (the import error's first line)."""
    module = {"pyav": "av", "decord": "decord", "torchcodec": "torchcodec.decoders",
              "torchcodec-approx": "torchcodec.decoders"}[backend]
    try:
        __import__(module)
    except (ImportError, OSError, RuntimeError) as exc:  # torchcodec raises RuntimeError when its libraries fail
        chain = [exc] + ([exc.__cause__] if exc.__cause__ else [])  # torch names the library, its cause the reason
        return ": ".join(f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                         for e in chain)
    return None


def _timed(step, seconds: float) -> float:
    step()  # warm up (imports, first open)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += step()
    return n / (time.perf_counter() - start)


def open_reader(path: str, backend: str):
    """A reader of ``path``: a ``video_io`` backend (no frame-count pass) or torchcodec ("torchcodec": exact seeking,
    "torchcodec-approx": approximate)."""
    if backend.startswith("torchcodec"):
        return TorchcodecReader(path, "approximate" if backend.endswith("approx") else "exact")
    from aegis_plugins.data.video_io import open_video

    return open_video(path, backend, verify_frame_count=False)


def bare_reader(path: str, backend: str, reopen: bool, seconds: float) -> float:
    """Clips/s of 16 frames every 2 from one file, straight from the backend reader."""
    from aegis_plugins.data.sampling import sample_clip_indices

    reader = open_reader(path, backend)

    def step() -> int:
        nonlocal reader
        if reopen:
            reader = open_reader(path, backend)
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


def frames_match_pyav(path: str, backend: str) -> str:
    """"identical" when ``backend`` returns PyAV's frames for a few clips of ``path`` (the frame-exactness the
    video_io readers are tested for), else the largest difference found."""
    from aegis_plugins.data.video_io import open_video

    reference, reader = open_video(path, "pyav"), open_reader(path, backend)
    if reader.num_frames != reference.num_frames:
        return f"{reader.num_frames} frames, PyAV {reference.num_frames}"
    worst = 0
    for indices in ([0, 1, 2], list(range(3, 35, 2)), [reference.num_frames - 1, 7, 7, 40]):
        got, want = reader.get_frames(indices), reference.get_frames(indices)
        worst = max(worst, int(np.abs(got.astype(np.int16) - want.astype(np.int16)).max()))
    return "identical" if worst == 0 else f"differ by up to {worst} grey levels"


_CUDA_STAND_INS = """
static void *handles[64];
void **__cudaRegisterFatBinary(void *binary) { (void)binary; return handles; }
void __cudaRegisterFatBinaryEnd(void **h) { (void)h; }
void __cudaUnregisterFatBinary(void **h) { (void)h; }
""" + "".join(f"int {name}(void) {{ return 1; }}\n" for name in (
    "__cudaRegisterFunction", "__cudaRegisterVar", "__cudaGetKernel", "__cudaLaunchKernel",
    "__cudaPopCallConfiguration", "__cudaPushCallConfiguration", "aoti_torch_get_current_cuda_stream",
    "cudaEventCreateWithFlags", "cudaEventDestroy", "cudaEventRecord", "cudaEventSynchronize", "cudaFree",
    "cudaGetDevice", "cudaMemcpy2DAsync", "cudaMemcpyAsync", "cudaSetDevice", "cudaStreamSynchronize",
    "cudaStreamWaitEvent")) + 'const char *cudaGetErrorString(int e) { (void)e; return "no CUDA"; }\n'


def torchcodec_cpu_shim(folder: str) -> dict[str, str]:
    """Build ``folder`` (module docstring) and return the environment that lets the CUDA torchcodec wheel load on a
    CPU-only torch: CUDA runtime stand-ins (error returns) and PyAV's FFmpeg 8 under the names torchcodec links."""
    import glob
    import subprocess

    import av

    os.makedirs(folder, exist_ok=True)
    source, version_map = os.path.join(folder, "cudart.c"), os.path.join(folder, "cudart.map")
    with open(source, "w") as f:
        f.write(_CUDA_STAND_INS)
    with open(version_map, "w") as f:
        f.write("libcudart.so.13 { global: *; };\n")  # torchcodec asks for symbols of this version
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", os.path.join(folder, "libcudart.so.13"), source,
                    "-Wl,-soname,libcudart.so.13", f"-Wl,--version-script={version_map}"], check=True)
    for name in ("libtorch_cuda.so", "libc10_cuda.so", "libnvrtc.so.13"):  # linked, nothing used on the CPU path
        subprocess.run(["gcc", "-shared", "-fPIC", "-x", "c", "-o", os.path.join(folder, name), "-"],
                       input=b"", check=True)
    av_libs = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")
    for stem, major in (("avutil", 60), ("avcodec", 62), ("avformat", 62), ("avdevice", 62), ("avfilter", 11),
                        ("swscale", 9), ("swresample", 6)):
        target, link = glob.glob(os.path.join(av_libs, f"lib{stem}-*.so.{major}.*")), f"lib{stem}.so.{major}"
        if not target:
            raise SystemExit(f"PyAV's bundled FFmpeg has no lib{stem}.so.{major} in {av_libs}: no FFmpeg 8 to share")
        if os.path.lexists(os.path.join(folder, link)):
            os.remove(os.path.join(folder, link))
        os.symlink(target[0], os.path.join(folder, link))
    paths = [folder, os.path.join(os.path.dirname(torch.__file__), "lib"), av_libs, os.environ.get("LD_LIBRARY_PATH")]
    return {"LD_LIBRARY_PATH": ":".join(p for p in paths if p), "AEGIS_TORCHCODEC_CPU_SHIM": folder}


def _stats(rates: list[float]) -> dict:
    rates = sorted(rates)
    return dict(median=round(float(np.median(rates)), 1), min=round(rates[0], 1), max=round(rates[-1], 1),
                runs=[round(r, 1) for r in rates])


def ratio_line(medians: dict[str, float], reference: str = "pyav") -> str:
    """The clips/s ratio of every backend to ``reference`` (else the first backend), from medians of one run."""
    if len(medians) < 2:
        return f"no ratio is given: only {', '.join(medians) or 'no backend'} measured in this run"
    reference = reference if reference in medians else next(iter(medians))
    ratios = ", ".join(f"{b} {m / medians[reference]:.2f}x" for b, m in medians.items() if b != reference)
    return f"ratio to {reference} in this run (medians): {ratios}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per setting (median and range printed)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backends", nargs="+", default=["pyav", "decord", "torchcodec", "torchcodec-approx"],
                        choices=["pyav", "decord", "torchcodec", "torchcodec-approx"])
    parser.add_argument("--sections", nargs="+", default=["bare", "pipeline"], choices=["bare", "pipeline"])
    parser.add_argument("--keyint", type=int, default=25, help="keyframe interval of the camera-like files (frames)")
    parser.add_argument("--root", default=None, help="folder for the generated files (default: a temp folder)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--torchcodec-cpu-shim", default=None, metavar="DIR",
                        help="load the CUDA torchcodec wheel on a CPU-only torch (module docstring)")
    args = parser.parse_args(argv)
    if args.torchcodec_cpu_shim and os.environ.get("AEGIS_TORCHCODEC_CPU_SHIM") != args.torchcodec_cpu_shim:
        import subprocess  # the dynamic loader reads LD_LIBRARY_PATH at start: run again with it set

        env = {**os.environ, **torchcodec_cpu_shim(args.torchcodec_cpu_shim)}
        return subprocess.run([sys.executable, os.path.abspath(__file__), *(sys.argv[1:] if argv is None else argv)],
                              env=env).returncode
    torch.set_num_threads(1)
    from aegis import plugins
    plugins.load()

    backends = []
    for backend in args.backends:
        why = importable(backend)
        if why:
            print(f"{backend}: not measured, it cannot be imported here ({why})")
        else:
            backends.append(backend)
    if "torchcodec" in backends or "torchcodec-approx" in backends:
        import torchcodec
        shim = os.environ.get("AEGIS_TORCHCODEC_CPU_SHIM")
        print(f"torchcodec {torchcodec.__version__} with torch {torch.__version__}"
              + (f", loaded through the CPU shim in {shim} (CUDA stand-ins, PyAV's FFmpeg)" if shim else ""))
    results = []

    def record(name: str, measures: dict) -> None:
        """Measure every backend of ``measures`` ``--repeats`` times, in rounds (each round runs every backend once,
        the order rotating), so that all of them see the same changes of the machine's load."""
        rates = {backend: [] for backend in measures}
        for round_ in range(args.repeats):
            order = list(measures)[round_ % len(measures):] + list(measures)[:round_ % len(measures)]
            for backend in order:
                rates[backend].append(measures[backend]())
        medians = {}
        for backend, values in rates.items():
            stats = _stats(values)
            medians[backend] = float(np.median(values))
            results.append(dict(measure=name, backend=backend, clips_per_s=stats["median"], **stats))
            print(f"{name:52s} {backend:17s} {stats['median']:7.1f}  [{stats['min']:.1f}-{stats['max']:.1f}]",
                  flush=True)
        if measures:
            print(f"{'':52s} {ratio_line(medians)}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or tmp
        synthetic, qvga, hd = make_files(root, keyint=args.keyint, synthetic="pipeline" in args.sections)
        one_file = os.path.join(os.path.dirname(qvga), "v0.mp4")
        load_before = os.getloadavg()
        print(f"320x240 files: 250 frames, 720p file: 100 frames, 25 fps, keyframe every {args.keyint} frames; load "
              f"average {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} on {os.cpu_count()} CPUs; "
              f"{args.repeats} x {args.seconds:g} s per setting")
        print(f"{'measure':52s} {'backend':17s} clips/s  [range]")
        if "bare" in args.sections:
            for label, path in (("320x240", one_file), ("720p", hd)):
                for backend in backends:
                    if backend != "pyav":
                        match = frames_match_pyav(path, backend)
                        results.append(dict(measure=f"frames of {label} against PyAV", backend=backend, match=match))
                        print(f"{'frames of ' + label + ' against PyAV':52s} {backend:17s} {match}")
                for reopen in (False, True):
                    name = f"bare reader, {label}, {'new open per clip' if reopen else 'reader kept open'}"
                    record(name, {b: functools.partial(bare_reader, path, b, reopen, args.seconds) for b in backends})
        pipeline_backends = [b for b in backends if not b.startswith("torchcodec")]
        if "pipeline" in args.sections:
            record("dataset pipeline, 320x240 decode only, 0 worker(s)",
                   {b: functools.partial(pipeline_loader, qvga, b, 0, None, args.seconds) for b in pipeline_backends})
            for label, ann, size in (("synthetic 64x64", synthetic, 64), ("320x240 -> 224", qvga, 224)):
                for workers in args.workers:
                    record(f"dataset pipeline, {label}, {workers} worker(s)",
                           {b: functools.partial(pipeline_loader, ann, b, workers, size, args.seconds)
                            for b in pipeline_backends})
        load_after = os.getloadavg()
        print(f"load average after: {load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(load_before=load_before, load_after=load_after, cpus=os.cpu_count(),
                           torch=torch.__version__, results=results), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
