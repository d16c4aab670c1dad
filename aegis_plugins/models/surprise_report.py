"""Surprise as an alert: a V-JEPA model's surprise curve of a whole video file, the moments it jumps, a CSV and a PNG.

:func:`video_surprise` reads every ``frame_step``-th frame of a file (by default the experiment's training
``frame_sample_rate``, so the model sees motion at the speed it learned), resizes and centre-crops each frame the
way the experiment's evaluation pipeline does, normalises it the same way, and scores the sliding windows of
:func:`aegis_plugins.models.surprise.latent_surprise` in bounded batches. :func:`find_jumps` names the moments the
curve jumps (the rule is in its docstring), the way a monitoring system flags a collapse or a surge;
``aegis surprise VIDEO --checkpoint ...`` (:func:`add_commands`) does all of it and writes ``surprise.csv`` and
``surprise.png``. The surprise itself follows Garrido et al. (2025), "Intuitive physics understanding emerges from
self-supervised pretraining on natural videos" (see ``surprise.py``).
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from aegis.errors import ConfigError, DataError

__all__ = ["Preprocessing", "SurpriseReport", "Jump", "preprocessing_of", "read_video_frames", "video_surprise",
           "find_jumps", "format_time", "write_surprise_csv", "write_surprise_png", "surprise_alert", "add_commands",
           "DEFAULT_MAX_FRAMES"]

DEFAULT_MAX_FRAMES = 10_000  # sampled frames read at most (uint8 at the model's size: 30 MB at 32 px, 1.5 GB at 224)
_DECODE_CHUNK = 64  # frames decoded (at the file's size) before they are resized to the model's


@dataclass
class Preprocessing:
    """How frames reach the model: the experiment's evaluation transforms, built from its dataloader pipeline.

    ``frame_step`` is the training ``frame_sample_rate``; ``spatial`` the resize/crop transforms (uint8
    (N, H, W, 3) -> (N, img_size, img_size, 3)); ``normalize`` the ``NormalizeVideo`` of the pipeline.
    """
    frame_step: int
    img_size: int
    spatial: list
    normalize: object
    source: str


@dataclass
class SurpriseReport:
    """The surprise curve of one video: ``values[i]`` (the mean L1 distance of window ``i``'s predicted latents to
    its target latents) belongs to frame ``frames[i]`` of the file, ``times[i]`` seconds in (the window's first
    predicted frame). ``frames_read`` sampled frames (every ``frame_step``-th of ``frames_in_video``) were scored;
    ``truncated`` says the video had more than ``max_frames`` sampled frames and only the first were read."""
    video: str
    checkpoint: str
    fps: float
    frame_step: int
    future_steps: int
    stride: int
    window_frames: int
    frames_read: int
    frames_in_video: int
    truncated: bool
    times: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    @property
    def window_values(self) -> int:
        """How many consecutive values have windows that overlap one moment (``find_jumps(merge_within=...)``)."""
        return max(1, math.ceil(self.window_frames / self.stride))

    def summary(self) -> dict:
        """``max`` (with its ``max_time``), ``mean`` and ``median`` of the curve."""
        top = int(np.argmax(self.values))
        return dict(max=self.values[top], max_time=self.times[top], mean=float(np.mean(self.values)),
                    median=float(np.median(self.values)))


@dataclass
class Jump:
    """A sudden change: the curve rose at ``index`` (``time_s``) from ``baseline`` (the median of the values before
    it) to a peak ``value`` at ``peak_index``, ``ratio`` = value / baseline."""
    index: int
    time_s: float
    peak_index: int
    value: float
    baseline: float
    ratio: float

    @property
    def label(self) -> str:
        """The onset time as ``MM:SS.d``."""
        return format_time(self.time_s)

    def describe(self) -> str:
        """``sudden change at 00:04.2 (surprise 0.635, 4.9× the median before it)``."""
        ratio = f"{self.ratio:.1f}×" if math.isfinite(self.ratio) else "far above"
        return f"sudden change at {self.label} (surprise {self.value:.4g}, {ratio} the median before it)"


def format_time(seconds: float) -> str:
    """``MM:SS.d`` (``H:MM:SS.d`` from one hour on), rounded to tenths: 4.24 -> ``00:04.2``, 59.96 -> ``01:00.0``."""
    tenths = int(round(max(0.0, float(seconds)) * 10))
    minutes, rest = divmod(tenths, 600)
    text = f"{rest // 10:02d}.{rest % 10}"
    if minutes >= 60:
        return f"{minutes // 60}:{minutes % 60:02d}:{text}"
    return f"{minutes:02d}:{text}"


# -- reading -----------------------------------------------------------------------------------------------------
def preprocessing_of(model, cfg) -> Preprocessing:
    """The evaluation preprocessing of ``cfg``'s dataloader pipeline (test, else val, else train): its
    ``frame_sample_rate``, its shorter-side resize and centre crop (a ``RandomResizedCrop`` of a training list
    becomes the centre crop an evaluation pipeline uses), its ``NormalizeVideo``. The crop must match the model's
    encoder ``img_size``."""
    from aegis.build import build_component
    from aegis.contracts import Transform
    from aegis_plugins.data.transforms import (CenterCrop, NormalizeVideo, RandomResizedCrop, ResizeShorterSide,
                                               SampleFrames, VideoClipPipeline)

    encoder = model.encoder
    img_size = int(getattr(encoder, "img_size", 0) or encoder.grid_size[1] * encoder.patch_size)
    name = next((k for k in ("test_dataloader", "val_dataloader", "train_dataloader") if cfg.get(k)), None)
    pipeline = cfg[name]["dataset"].get("pipeline") if name else None
    if pipeline is None:
        raise ConfigError("surprise: the experiment's dataloaders have no dataset.pipeline; it says how frames are "
                          "sampled, resized and normalised for this model (e.g. dict(type='VideoClipPipeline', "
                          "video_length=8, frame_sample_rate=4, img_size=32)).")
    built = [build_component(dict(t), Transform, f"{name}.dataset.pipeline[{i}]")
             for i, t in enumerate(pipeline if isinstance(pipeline, (list, tuple)) else [pipeline])]
    steps = []
    for step in built:
        steps += step.test_transforms if isinstance(step, VideoClipPipeline) else [step]
    frame_step = next((s.frame_sample_rate for s in steps if isinstance(s, SampleFrames)), 1)
    spatial = [s for s in steps if isinstance(s, (ResizeShorterSide, CenterCrop))]
    crops = [s.size for s in steps if isinstance(s, (CenterCrop, RandomResizedCrop))]
    if not any(isinstance(s, CenterCrop) for s in spatial):
        spatial.append(CenterCrop(crops[-1] if crops else img_size))
    if spatial[-1].size != img_size:
        raise ConfigError(f"surprise: {name}.dataset.pipeline crops frames to {spatial[-1].size} px but the model's "
                          f"encoder takes img_size={img_size}; make the pipeline's img_size match the encoder's.")
    normalize = next((s for s in steps if isinstance(s, NormalizeVideo)), None)
    if normalize is None:
        raise ConfigError(f"surprise: {name}.dataset.pipeline has no NormalizeVideo; the model was trained on "
                          "normalised frames, so scoring needs the same normalisation.")
    return Preprocessing(frame_step=int(frame_step), img_size=img_size, spatial=spatial, normalize=normalize,
                         source=f"{name}.dataset.pipeline")


def _every(step: int) -> str:
    """``every frame``, ``every 2nd frame``, ``every 4th frame``."""
    if step == 1:
        return "every frame"
    suffix = "th" if 10 <= step % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(step % 10, "th")
    return f"every {step}{suffix} frame"


def _strip_path(message: str, path: str) -> str:
    return message[len(path):].lstrip(": ") if message.startswith(path) else message


def _open_readable(path: str):
    """``open_video(path)``; any problem is a DataError saying the file is not a readable video, and why."""
    from aegis_plugins.data.video_io import open_video

    try:
        return open_video(path)
    except DataError as exc:
        raise DataError(f"{path} is not a readable video: {_strip_path(str(exc), path)}") from None


def read_video_frames(path: str, prep: Preprocessing, frame_step: int | None = None,
                      max_frames: int = DEFAULT_MAX_FRAMES) -> dict:
    """Every ``frame_step``-th frame of ``path`` (default ``prep.frame_step``), up to ``max_frames`` of them,
    resized and cropped to the model's size: ``frames`` uint8 (C, T, H, W) (normalise with
    :func:`_normalise`), ``indices`` (the file frame of each), ``fps``, ``frames_in_video``, ``truncated``.
    Frames are decoded ``_DECODE_CHUNK`` at a time, so memory holds full-size frames of one chunk only."""
    step = int(prep.frame_step if frame_step is None else frame_step)
    if step < 1:
        raise ConfigError(f"surprise frame_step={step}: expected an int >= 1 (read every frame_step-th frame).")
    if max_frames < 1:
        raise ConfigError(f"surprise max_frames={max_frames}: expected an int >= 1.")
    reader = _open_readable(path)
    try:
        if not reader.fps or reader.fps <= 0:
            raise DataError(f"{path} declares no frame rate, so the surprise curve cannot be put in seconds.")
        indices = list(range(0, reader.num_frames, step))
        truncated = len(indices) > max_frames
        indices = indices[:max_frames]
        chunks = []
        for first in range(0, len(indices), _DECODE_CHUNK):
            results = dict(imgs=reader.get_frames(indices[first:first + _DECODE_CHUNK]))  # (n, H, W, 3)
            for transform in prep.spatial:
                results = transform(results)
            chunks.append(results["imgs"])  # (n, S, S, 3)
        fps, total = float(reader.fps), int(reader.num_frames)
    finally:
        reader.close()
    frames = torch.from_numpy(np.concatenate(chunks)).permute(3, 0, 1, 2).contiguous()  # (C, T, S, S) uint8
    return dict(frames=frames, indices=indices, fps=fps, frames_in_video=total, truncated=truncated)


def _normalise(prep: Preprocessing, frames: Tensor) -> Tensor:
    """uint8 (C, T, H, W) -> float32 through the experiment's ``NormalizeVideo``."""
    return prep.normalize(dict(inputs=frames))["inputs"]


# -- scoring -----------------------------------------------------------------------------------------------------
@torch.no_grad()
def video_surprise(model, cfg, path: str, frame_step: int | None = None, future_steps: int = 1, stride: int = 1,
                   max_frames: int = DEFAULT_MAX_FRAMES, batch_windows: int = 64,
                   checkpoint: str = "") -> SurpriseReport:
    """The surprise curve of the video file ``path`` under ``model`` (a ``JEPAPretrainer`` from
    :func:`aegis_plugins.models.surprise.load_pretrainer`, with its experiment ``cfg``).

    Frames: every ``frame_step``-th (default: the experiment's ``frame_sample_rate``), at most ``max_frames``,
    preprocessed as :func:`preprocessing_of` says. Windows of the model's clip length every ``stride`` sampled
    frames, the last ``future_steps`` token time steps predicted, are scored ``batch_windows`` at a time on the
    model's device (``model`` in eval mode); value ``i`` is reported at the window's first predicted frame (``frames[i]`` of the file,
    ``times[i] = frames[i] / fps``). ``checkpoint`` is only a label for the report.
    """
    from .surprise import latent_surprise, predicted_frames

    if batch_windows < 1:
        raise ConfigError(f"surprise batch_windows={batch_windows}: expected an int >= 1.")
    prep = preprocessing_of(model, cfg)
    read = read_video_frames(path, prep, frame_step, max_frames)
    frames, step = read["frames"], int(prep.frame_step if frame_step is None else frame_step)
    window = int(model.encoder.grid_size[0]) * int(getattr(model.encoder, "tubelet_size", 1))  # frames per window
    count = frames.shape[1]
    if count < window:
        raise DataError(f"{path}: {count} frames read ({_every(step)} of {read['frames_in_video']}), fewer than the "
                        f"model's window of {window} frames; use a smaller --frame-step (at most "
                        f"{max(1, (read['frames_in_video'] - 1) // max(1, window - 1))}) or a longer video.")
    device = next(model.parameters()).device
    reported = predicted_frames(model, count, future_steps, stride)  # sampled-frame index of each value
    values: list[float] = []
    span = (batch_windows - 1) * stride + window  # frames of one batch of windows
    for first in range(0, len(reported) * stride, batch_windows * stride):
        clip = _normalise(prep, frames[:, first:first + span]).to(device)  # (C, n, S, S)
        values += latent_surprise(model, clip[None], future_steps, stride)[0].tolist()  # (n,)
    file_frames = [read["indices"][i] for i in reported]
    return SurpriseReport(video=str(path), checkpoint=str(checkpoint), fps=read["fps"], frame_step=step,
                          future_steps=future_steps, stride=stride, window_frames=window, frames_read=count,
                          frames_in_video=read["frames_in_video"], truncated=read["truncated"],
                          times=[f / read["fps"] for f in file_frames], frames=file_frames, values=values)


# -- jumps -------------------------------------------------------------------------------------------------------
def find_jumps(times, values, k: float = 6.0, k_rise: float = 3.0, min_ratio: float = 1.25, history: int = 32,
               min_history: int = 2, merge_within: int = 1) -> list[Jump]:
    """The moments a curve jumps, by a rule robust to its noise level and to the jumps themselves.

    Noise scale ``sigma``: the median absolute deviation of the curve's first differences, times 1.4826 / sqrt(2)
    (the standard deviation of the values' noise if it were Gaussian; a few jumps barely move it), at least 1% of
    the curve's median. Value ``i`` (with at least ``min_history`` values before it) starts a jump when all hold:

    1. it stands ``k`` sigma above ``baseline_i``, the median of the up to ``history`` values before it;
    2. it is at least ``min_ratio`` times that baseline (a change worth an alert, whatever the noise);
    3. it rose by ``k_rise`` sigma since the value before it (sudden, not a slow drift).

    A flagged value belongs to the jump before it when it comes fewer than ``merge_within`` values after that jump's
    first value (for a surprise curve: the windows that overlap one moment, ``window_values`` of the report, so a
    cut that moves every window over it is one jump) or when the curve has stayed above halfway from that jump's
    baseline to its first value ever since (a lasting surge). Each jump is reported at its first value (``time_s``)
    with the highest value it reaches (within ``merge_within`` values or while it stays above halfway, before the
    next jump) and ``ratio`` = that peak / baseline. A flat or merely noisy curve gives no jump. Returns the jumps
    in time order.
    """
    v = np.asarray(values, dtype=np.float64)
    if len(v) != len(times):
        raise ConfigError(f"find_jumps: {len(times)} times but {len(v)} values; expected one time per value.")
    if min_history < 1 or history < min_history or merge_within < 1:
        raise ConfigError(f"find_jumps: history={history}, min_history={min_history}, merge_within={merge_within}; "
                          "expected 1 <= min_history <= history and merge_within >= 1.")
    if len(v) <= min_history:
        return []
    diffs = np.diff(v)
    sigma = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2.0)
    sigma = max(sigma, 0.01 * abs(float(np.median(v))), 1e-12)
    onsets: list[tuple[int, float]] = []  # (first value, baseline) of each jump
    for i in range(min_history, len(v)):
        baseline = float(np.median(v[max(0, i - history):i]))
        high = v[i] - baseline >= k * sigma and (baseline <= 0 or v[i] >= min_ratio * baseline)
        if not (high and v[i] - v[i - 1] >= k_rise * sigma):
            continue
        if onsets:
            first, first_baseline = onsets[-1]
            halfway = first_baseline + 0.5 * (v[first] - first_baseline)
            if i - first < merge_within or bool(np.all(v[first:i + 1] >= halfway)):
                continue  # the same jump, seen by overlapping windows or still going on
        onsets.append((i, baseline))
    jumps: list[Jump] = []
    for number, (first, baseline) in enumerate(onsets):
        halfway = baseline + 0.5 * (v[first] - baseline)
        elevated = first
        while elevated + 1 < len(v) and v[elevated + 1] >= halfway:
            elevated += 1
        last = max(elevated, first + merge_within - 1)
        if number + 1 < len(onsets):
            last = min(last, onsets[number + 1][0] - 1)
        peak = first + int(np.argmax(v[first:last + 1]))
        ratio = float(v[peak] / baseline) if baseline > 0 else math.inf
        jumps.append(Jump(index=first, time_s=float(times[first]), peak_index=peak, value=float(v[peak]),
                          baseline=baseline, ratio=ratio))
    return jumps


# -- files -------------------------------------------------------------------------------------------------------
def write_surprise_csv(report: SurpriseReport, path: str | os.PathLike) -> Path:
    """``time_s,frame,surprise``: one row per window, time increasing, surprise last; written atomically."""
    from aegis.engine.checkpoint import atomic_write_text

    lines = ["time_s,frame,surprise"]
    lines += [f"{t:.4f},{f},{v:.6g}" for t, f, v in zip(report.times, report.frames, report.values)]
    atomic_write_text("\n".join(lines) + "\n", path)
    return Path(path)


def write_surprise_png(report: SurpriseReport, jumps: list[Jump], path: str | os.PathLike) -> Path:
    """The curve against time, its median dashed, each jump marked at its onset and labelled with its time; the
    title names the video and the checkpoint. Matplotlib's Agg backend; written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from aegis.engine.checkpoint import atomic_write_bytes

    figure = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    ax = figure.add_subplot(1, 1, 1)
    ax.plot(report.times, report.values, color="tab:blue", lw=1.2, marker="." if len(report.values) < 60 else None,
            label="surprise")
    ax.axhline(float(np.median(report.values)), color="grey", ls="--", lw=0.8, label="median")
    for jump in jumps:
        ax.axvline(jump.time_s, color="tab:red", ls=":", lw=1.0)
        ax.plot([report.times[jump.peak_index]], [jump.value], "v", color="tab:red", ms=8)
        ax.annotate(f"{jump.label}  ×{jump.ratio:.1f}", (jump.time_s, jump.value), textcoords="offset points",
                    xytext=(4, 4), color="tab:red", fontsize="small")
    ax.margins(y=0.15)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("surprise (latent L1)")
    checkpoint = "/".join(Path(report.checkpoint).parts[-2:]) if report.checkpoint else "?"
    ax.set_title(f"{os.path.basename(report.video)}: surprise of checkpoint {checkpoint} "
                 f"({len(jumps)} sudden change{'s' if len(jumps) != 1 else ''})", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(buffer.getvalue(), path)
    return Path(path)


# -- the command -------------------------------------------------------------------------------------------------
def add_commands(subparsers) -> None:
    """Add ``aegis surprise VIDEO --checkpoint ...`` to the ``aegis`` console script."""
    from aegis.overrides import OverridesAction

    parser = subparsers.add_parser(
        "surprise", help="a V-JEPA model's surprise curve of a video, with its sudden changes (CSV + PNG)",
        description="Score every window of VIDEO with a V-JEPA pretraining checkpoint (how badly it predicted what "
                    "came next), write the curve as surprise.csv and surprise.png into --out, and name the moments "
                    "the surprise jumps. Exit 0 done, 2 bad video, checkpoint or configuration.")
    parser.add_argument("video", metavar="VIDEO", help="any video file FFmpeg reads")
    parser.add_argument("--checkpoint", default=None,
                        help="a V-JEPA pretraining checkpoint (.pth) or its run's work dir (default: the experiment's "
                             "work dir); 'random' scores with the random init (a control)")
    parser.add_argument("--experiment", default="experiments/vjepa_pretrain_tiny.py",
                        help="the experiment the checkpoint was trained with (default: %(default)s)")
    parser.add_argument("--out", default=None, help="folder for surprise.csv and surprise.png "
                                                    "(default: surprise_<video name>)")
    parser.add_argument("--frame-step", type=int, default=None,
                        help="read every N-th frame (default: the experiment's training frame_sample_rate)")
    parser.add_argument("--future-steps", type=int, default=1, help="token time steps predicted per window")
    parser.add_argument("--stride", type=int, default=1, help="sampled frames between windows")
    parser.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES,
                        help="read at most this many sampled frames (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device to score on, e.g. cuda (default: cpu)")
    parser.add_argument("--cfg-options", nargs="+", action=OverridesAction, default={}, metavar="KEY=VALUE",
                        help="override experiment keys the checkpoint was trained with")
    parser.set_defaults(func=_surprise_command)


def surprise_alert(video: str, checkpoint: str | None = None,
                   experiment: str = "experiments/vjepa_pretrain_tiny.py", out: str | os.PathLike | None = None,
                   frame_step: int | None = None, future_steps: int = 1, stride: int = 1,
                   max_frames: int = DEFAULT_MAX_FRAMES, device: str = "cpu", cfg_options: dict | None = None,
                   echo=print) -> tuple[SurpriseReport, list[Jump]]:
    """What ``aegis surprise`` does (and ``tools/infer.py --surprise`` can call): check ``video`` opens, build the
    experiment's pretrainer from ``checkpoint`` (:func:`aegis_plugins.models.surprise.load_pretrainer`), score the
    video (:func:`video_surprise`), find its jumps, write ``surprise.csv`` and ``surprise.png`` into ``out``
    (default ``surprise_<video name>``) and pass the summary lines to ``echo``. Returns ``(report, jumps)``."""
    from .surprise import load_pretrainer

    _open_readable(video).close()  # a bad file fails before the model is built
    model, cfg = load_pretrainer(experiment, checkpoint, cfg_options or None)
    try:
        model = model.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"--device {device!r} cannot be used: {exc}") from None
    label = checkpoint or cfg.work_dir
    report = video_surprise(model, cfg, video, frame_step, future_steps, stride, max_frames, checkpoint=label)
    jumps = find_jumps(report.times, report.values, merge_within=report.window_values)
    folder = Path(out or f"surprise_{Path(video).stem}")
    csv_path = write_surprise_csv(report, folder / "surprise.csv")
    png_path = write_surprise_png(report, jumps, folder / "surprise.png")
    stats = report.summary()
    echo(f"surprise of {video} under {label}: {len(report.values)} windows of {report.window_frames} frames, "
         f"{_every(report.frame_step)} at {report.fps:.3g} fps")
    if report.truncated:
        echo(f"note: only the first {report.frames_read} sampled frames (to {format_time(report.times[-1])}) were "
             f"scored (the video has {report.frames_in_video} frames, {_every(report.frame_step)} read); raise "
             "--max-frames to score all of it")
    echo(f"max {stats['max']:.4g} at {format_time(stats['max_time'])}, mean {stats['mean']:.4g}, "
         f"median {stats['median']:.4g}")
    for jump in jumps:
        echo(jump.describe())
    if not jumps:
        echo("no sudden change")
    echo(f"wrote {csv_path}")
    echo(f"wrote {png_path}")
    return report, jumps


def _surprise_command(args) -> int:
    surprise_alert(args.video, args.checkpoint, args.experiment, args.out, args.frame_step, args.future_steps,
                   args.stride, args.max_frames, args.device, args.cfg_options)
    return 0
