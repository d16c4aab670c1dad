"""Turn a folder of raw videos into fixed-size, fixed-fps, fixed-length H.264 clips plus a caption JSON.

Each input video is decoded once, in order (PyAV), resampled to ``fps`` by timestamps (the first frame at or after
each output instant), resized so its shorter side is ``size`` and centre-cropped to ``size`` x ``size``, and cut into
clips of ``clip_frames`` frames every ``stride`` output frames (a remainder shorter than a clip is dropped). The
caption JSON is the training guide's format: ``[{"video_path", "caption", "captions", "source", "start_s", "end_s",
"class_name"?}]``, with empty captions or captions from a captioner (see captioners.py). A video in a sub-folder
gets that folder's name as ``class_name``.
"""
from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np
from mmengine.logging import print_log

from aegis.engine.progress import track
from aegis.errors import ConfigError, DataError

from .datasets import VIDEO_EXTENSIONS
from .transforms import resize_frames
from .video_io import write_video

__all__ = ["preprocess_videos", "iter_resampled_frames", "find_videos"]


def find_videos(input_dir: str, extensions=VIDEO_EXTENSIONS) -> list[str]:
    """Video files under ``input_dir`` (recursive), as sorted paths relative to it."""
    found = []
    for dirpath, dirnames, files in os.walk(input_dir):
        dirnames.sort()
        for f in sorted(files):
            if f.lower().endswith(tuple(extensions)):
                found.append(os.path.relpath(os.path.join(dirpath, f), input_dir))
    return found


def _square(frame: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3): shorter side to ``size``, then the centred square."""
    h, w = frame.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = resize_frames(frame[None], nh, nw)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return out[top:top + size, left:left + size]


def iter_resampled_frames(path: str, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """(time in s, (H, W, 3) uint8 frame) at ``fps``, decoding ``path`` once in order."""
    import av
    try:
        container = av.open(path)
        stream = container.streams.video[0]
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise DataError(f"{path}: cannot open the video ({type(exc).__name__}: {exc})") from None
    with container:
        next_k = 0
        start = None
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None:
                    continue
                start = t if start is None else start
                rel = t - start
                while rel + 1e-6 >= next_k / fps:
                    yield next_k / fps, frame.to_ndarray(format="rgb24")
                    next_k += 1
        except av.FFmpegError as exc:
            if next_k == 0:
                raise DataError(f"{path}: decoding failed ({type(exc).__name__}: {exc})") from None
            print_log(f"{path}: decoding stopped early at {next_k / fps:.2f} s ({exc}); keeping what decoded",
                      logger="current", level=logging.WARNING)
        if next_k == 0:
            raise DataError(f"{path}: no decodable frames")


def preprocess_videos(input_dir: str, output_dir: str, size: int = 224, fps: float = 8.0, clip_frames: int = 32,
                      stride: int | None = None, captioner: Callable[[str], str] | None = None,
                      on_error: str = "skip", crf: int = 18) -> str:
    """Write clips to ``output_dir/clips/`` and ``output_dir/captions.json``; returns the JSON's path.

    ``captioner`` is any callable ``video_path -> caption`` (a built CAPTIONERS entry). ``on_error='skip'`` logs
    an unreadable input and goes on; 'raise' stops at it with a :class:`DataError`. On a terminal, live bars count
    the videos (with the clips written so far) and the captions (nothing elsewhere).
    """
    if size < 2 or size % 2 or fps <= 0 or clip_frames < 1:
        raise ConfigError(f"size={size} (even, >= 2), fps={fps} (> 0), clip_frames={clip_frames} (>= 1) expected")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error={on_error!r}; expected 'raise' or 'skip'")
    if not os.path.isdir(input_dir):
        raise ConfigError(f"input_dir={input_dir!r} is not a folder")
    stride = stride or clip_frames
    videos = find_videos(input_dir)
    if not videos:
        raise DataError(f"{input_dir}: no videos with extensions {VIDEO_EXTENSIONS}")
    entries, failed = [], 0
    for rel in track(videos, "videos", unit="videos", status=lambda: f"{len(entries)} clips, {failed} skipped"):
        src = os.path.join(input_dir, rel)
        stem = os.path.splitext(rel)[0]
        window: deque[np.ndarray] = deque(maxlen=clip_frames)  # the last clip_frames output frames
        try:
            for k, (_, frame) in enumerate(iter_resampled_frames(src, fps)):
                window.append(_square(frame, size))
                start_k = k + 1 - clip_frames  # the clip this frame would complete starts here
                if start_k < 0 or start_k % stride:
                    continue
                clip_rel = f"clips/{stem}_{start_k // stride:04d}.mp4"
                write_video(os.path.join(output_dir, clip_rel), np.stack(window), fps=fps, crf=crf)
                entry = dict(video_path=clip_rel, caption="", captions=[], source=rel,
                             start_s=round(start_k / fps, 3), end_s=round((start_k + clip_frames) / fps, 3))
                if os.path.dirname(rel):
                    entry["class_name"] = rel.split(os.sep)[0]
                entries.append(entry)
        except DataError as exc:
            if on_error == "raise":
                raise
            failed += 1
            print_log(f"skipped {src}: {exc}", logger="current", level=logging.WARNING)
    if captioner is not None:
        for e in track(entries, "captions", unit="clips"):
            text = captioner(os.path.join(output_dir, e["video_path"]))
            e["caption"], e["captions"] = text, [text] if text else []
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "captions.json")
    from aegis.engine import atomic_write_bytes  # the one atomic writer: a failure leaves no partial file

    atomic_write_bytes(json.dumps(entries, indent=1).encode("utf-8"), path)
    print_log(f"{len(entries)} clips from {len(videos) - failed} of {len(videos)} videos -> {path}",
              logger="current", level=logging.INFO)
    return path
