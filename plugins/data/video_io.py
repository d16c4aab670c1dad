"""Video decoding behind one small interface, with a decord and a PyAV backend, and an H.264 writer.

Both readers return the same frames for the same indices as ``uint8`` arrays of shape (T, H, W, C), C = 3 (RGB).
Frame counts come from the container's index, which can over-report (a truncated file, a broken index; decord may
then hang or return garbage on the missing tail), so by default a reader counts the packets actually stored in the
file (a demux pass, no decoding) and never reads past them.

Decoders: decord (https://github.com/dmlc/decord) and PyAV (https://pyav.basswood-io.com), both wrapping FFmpeg.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from mmengine.logging import print_log

from aegis.errors import ConfigError, DataError, MissingDependencyError

__all__ = ["VideoReader", "PyAVReader", "DecordReader", "open_video", "resolve_backend", "count_packets",
           "write_video", "BACKENDS", "AUTO_ORDER"]

BACKENDS = ("auto", "pyav", "decord")
# Order tried by backend="auto". PyAV comes first: it was faster than decord in benchmarks/data_throughput.py on
# every setting measured (docs/data.md), and it has wheels for every platform.
AUTO_ORDER = ("pyav", "decord")


class VideoReader(Protocol):
    """An opened video: ``num_frames`` decodable frames, ``get_frames(indices) -> (T, H, W, 3) uint8``."""
    path: str
    num_frames: int
    reported_frames: int
    fps: float
    height: int
    width: int

    def get_frames(self, indices: Sequence[int]) -> np.ndarray: ...

    def close(self) -> None: ...


def _import_av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a core dependency
        raise MissingDependencyError("backend='pyav' needs PyAV: pip install av") from exc
    return av


def _import_decord():
    try:
        import decord
    except ImportError as exc:
        raise MissingDependencyError(
            "backend='decord' needs decord, which has wheels only for x86-64 Linux/Windows and Python <= 3.11: "
            "pip install decord (or eva-decord), or use backend='pyav' / 'auto'.") from exc
    return decord


def count_packets(path: str) -> int:
    """Number of complete video packets stored in the file (one per frame for H.264/MPEG-4), by demuxing only.

    A packet flagged corrupt or extending past the end of the file (a truncated download) is not counted.
    """
    av = _import_av()
    file_size = os.path.getsize(path)
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            return sum(1 for p in container.demux(stream)
                       if p.size > 0 and not p.is_corrupt
                       and (p.pos is None or p.pos < 0 or p.pos + p.size <= file_size))
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise DataError(f"{path}: cannot read the video stream ({type(exc).__name__}: {exc})") from None


def _checked_count(path: str, reported: int, verify: bool) -> int:
    if not verify:
        return reported
    stored = count_packets(path)
    if reported <= 0:
        return stored
    if stored < reported:
        print_log(f"{path}: the container reports {reported} frames but only {stored} are stored; "
                  f"reading at most {stored}", logger="current", level=logging.WARNING)
        return stored
    return reported


def _check_indices(path: str, indices: Sequence[int], num_frames: int) -> list[int]:
    idx = [int(i) for i in indices]
    bad = [i for i in idx if i < 0 or i >= num_frames]
    if bad:
        raise DataError(f"{path}: frame index {bad[0]} is outside the {num_frames} decodable frames "
                        f"(valid 0..{num_frames - 1})")
    return idx


class PyAVReader:
    """Read frames with PyAV: seek to the keyframe before the first wanted frame, decode forward, stop at the last.

    Frame indices come from presentation timestamps (constant frame rate assumed, as decord also assumes), so the
    frames match decord's for the same indices. Returns (T, H, W, 3) uint8 RGB.
    """

    def __init__(self, path: str, verify_frame_count: bool = True, num_threads: int = 1) -> None:
        av = _import_av()
        self.path = str(path)
        try:
            self._container = av.open(self.path)
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError, OSError) as exc:
            raise DataError(f"{self.path}: cannot open the video ({type(exc).__name__}: {exc})") from None
        stream = self._stream
        stream.thread_count = max(1, int(num_threads))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 0.0
        self.height, self.width = stream.codec_context.height, stream.codec_context.width
        reported = int(stream.frames or 0)
        if reported <= 0 and stream.duration and stream.time_base and self.fps:
            reported = int(round(float(stream.duration * stream.time_base) * self.fps))
        self.reported_frames = reported
        self.num_frames = _checked_count(self.path, reported, verify_frame_count or reported <= 0)
        self._start_pts = stream.start_time if stream.start_time is not None else 0

    def _index_of(self, frame) -> int | None:
        if frame.pts is None or not self.fps:
            return None
        seconds = float((frame.pts - self._start_pts) * self._stream.time_base)
        return int(round(seconds * self.fps))

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as (T, H, W, 3) uint8."""
        av = _import_av()
        idx = _check_indices(self.path, indices, self.num_frames)
        wanted = set(idx)
        first, last = min(idx), max(idx)
        found: dict[int, np.ndarray] = {}
        stream = self._stream
        try:
            if first > 0 and self.fps:
                target = self._start_pts + int(first / self.fps / stream.time_base)
                self._container.seek(target, stream=stream, backward=True, any_frame=False)
            else:
                self._container.seek(self._start_pts, stream=stream, backward=True, any_frame=False)
            counter, done = -1, False
            for packet in self._container.demux(stream):
                try:
                    frames = packet.decode()
                except av.InvalidDataError:  # a damaged or partial packet: its frame stays missing
                    continue
                for frame in frames:
                    i = self._index_of(frame)
                    counter = counter + 1 if i is None else i
                    if counter in wanted:
                        found[counter] = frame.to_ndarray(format="rgb24")
                    done = counter >= last
                    if done:
                        break
                if done:
                    break
        except av.FFmpegError as exc:
            raise DataError(f"{self.path}: decoding failed ({type(exc).__name__}: {exc})") from None
        missing = sorted(wanted - set(found))
        if missing:
            raise DataError(f"{self.path}: frame {missing[0]} could not be decoded (the file ends early or is "
                            f"corrupt; {len(found)} of {len(wanted)} wanted frames decoded)")
        return np.stack([found[i] for i in idx])  # (T, H, W, 3)

    def close(self) -> None:
        self._container.close()


class DecordReader:
    """Read frames with decord's ``VideoReader.get_batch``; the frame count is checked against the stored packets
    first, so decord is never asked for a frame past the real end. Returns (T, H, W, 3) uint8 RGB."""

    def __init__(self, path: str, verify_frame_count: bool = True, num_threads: int = 1) -> None:
        decord = _import_decord()
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise DataError(f"{self.path}: no such file")
        try:
            self._reader = decord.VideoReader(self.path, num_threads=max(1, int(num_threads)))
        except Exception as exc:  # decord raises DECORDError / RuntimeError with FFmpeg's message
            raise DataError(f"{self.path}: cannot open the video ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        self.reported_frames = len(self._reader)
        self.fps = float(self._reader.get_avg_fps())
        self._shape: tuple[int, int] | None = None
        self.num_frames = _checked_count(self.path, self.reported_frames, verify_frame_count)

    def _frame_shape(self) -> tuple[int, int]:
        if self._shape is None:  # decord only tells the size by decoding a frame: do it when asked
            shape = self._reader[0].shape if self.num_frames else (0, 0, 3)
            self._reader.seek(0)
            self._shape = (int(shape[0]), int(shape[1]))
        return self._shape

    @property
    def height(self) -> int:
        return self._frame_shape()[0]

    @property
    def width(self) -> int:
        return self._frame_shape()[1]

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as (T, H, W, 3) uint8."""
        idx = _check_indices(self.path, indices, self.num_frames)
        try:
            return self._reader.get_batch(idx).asnumpy()  # (T, H, W, 3)
        except Exception as exc:
            raise DataError(f"{self.path}: decoding failed ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None

    def close(self) -> None:
        del self._reader


_READERS = {"pyav": PyAVReader, "decord": DecordReader}


def _importable(name: str) -> tuple[bool, str]:
    try:
        (_import_av if name == "pyav" else _import_decord)()
        return True, ""
    except MissingDependencyError as exc:
        return False, str(exc).split(":")[0]


@functools.lru_cache(maxsize=None)
def resolve_backend(backend: str = "auto") -> str:
    """The concrete backend name for ``backend`` ('auto', 'pyav' or 'decord'); 'auto' logs its choice once."""
    if backend not in BACKENDS:
        from aegis.errors import closest
        near = closest(backend, BACKENDS)
        raise ConfigError(f"backend={backend!r} is not a video backend; expected one of {', '.join(BACKENDS)}"
                          + (f". Did you mean {near[0]!r}?" if near else "."))
    if backend != "auto":
        return backend
    for name in AUTO_ORDER:
        ok, why = _importable(name)
        if ok:
            reason = ("it was the faster reader in benchmarks/data_throughput.py (docs/data.md)"
                      if name == AUTO_ORDER[0] else f"{AUTO_ORDER[0]} is unavailable")
            print_log(f"video backend 'auto' uses {name}: {reason}", logger="current", level=logging.INFO)
            return name
    raise MissingDependencyError("No video backend is installed: pip install av (or decord).")


def open_video(path: str, backend: str = "auto", verify_frame_count: bool = True, num_threads: int = 1):
    """Open ``path`` with the named backend and return a :class:`VideoReader`; problems raise :class:`DataError`."""
    name = resolve_backend(backend)
    path = str(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    reader = _READERS[name](path, verify_frame_count=verify_frame_count, num_threads=num_threads)
    if reader.num_frames <= 0:
        reader.close()
        raise DataError(f"{path}: the video has no decodable frames")
    return reader


def _rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H * 3 / 2, W) uint8 planar YUV 4:2:0, BT.601 limited range (FFmpeg's default).

    Converting here rather than in FFmpeg's swscale keeps encoder input, and so the output bytes, reproducible.
    """
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + 0.256788 * r + 0.504129 * g + 0.097906 * b
    u = 128 - 0.148223 * r - 0.290993 * g + 0.439216 * b
    v = 128 + 0.439216 * r - 0.367788 * g - 0.071427 * b
    h, w = y.shape
    u = u.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # (H/2, W/2)
    v = v.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8).reshape(-1) for p in (y, u, v)]
    return np.concatenate(planes).reshape(h * 3 // 2, w)


def write_video(path: str, frames: np.ndarray, fps: float = 8.0, crf: int = 18, preset: str = "ultrafast",
                faststart: bool = False, keyint: int | None = None) -> str:
    """Write (T, H, W, 3) uint8 RGB ``frames`` as an H.264 mp4 (yuv420p, one x264 thread).

    With the default ``preset='ultrafast'`` reruns are byte-identical; with slower presets this x264 build gave a
    different bitstream in about 1 of 100 encodes when other decoders ran in the same process (measured here).

    The file appears atomically (written beside the target, then renamed). H and W must be even (4:2:0 chroma).
    ``keyint`` sets the keyframe interval (x264's default is 250 frames; cameras often use about 1 s).
    """
    av = _import_av()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise DataError(f"{path}: frames must be a (T, H, W, 3) uint8 array, got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ConfigError(f"{path}: H.264 with 4:2:0 chroma needs an even size, got {w}x{h}; use {w + w % 2}x"
                          f"{h + h % 2}")
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.mp4"
    from fractions import Fraction
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "+faststart"} if faststart else {}
    try:
        with av.open(tmp, mode="w", format="mp4", options=options) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.thread_count = 1
            stream.options = {"crf": str(crf), "preset": preset, "threads": "1"}
            if keyint:
                stream.options = dict(stream.options, g=str(keyint))
            for i in range(t):
                frame = av.VideoFrame.from_ndarray(_rgb_to_yuv420p(frames[i]), format="yuv420p")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
