"""Video decoding behind one small interface, with a decord and a PyAV backend, and an H.264 writer.

Both readers return the same frames for the same indices as ``uint8`` arrays of shape (T, H, W, C), C = 3 (RGB).
Frame counts come from the container's index, which can over-report (a truncated file, a broken index; decord may
then hang or return garbage on the missing tail), so by default a reader counts the packets actually stored in the
file (a demux pass, no decoding) and never reads past them. That pass also gives PyAV each frame's presentation time,
so frame ``i`` is the ``i``-th frame in presentation order even at a variable frame rate (as in decord).

Bounded work (docs/reliability.md): a video whose declared frame size exceeds ``max_pixels`` (default 8K UHD,
7680 x 4320) is refused before anything is decoded, and the demux pass and each PyAV ``get_frames`` call stop with a
:class:`DataError` after ``decode_timeout`` seconds (default 60). decord decodes a batch in one native call that
cannot be interrupted, so for it only the size check and the stored-frame count bound the work. Rotation metadata is
not applied: PyAV returns frames as stored; decord (which fails on such files) refuses them by name.

Decoders: decord (https://github.com/dmlc/decord) and PyAV (https://pyav.basswood-io.com), both wrapping FFmpeg.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from mmengine.logging import print_log

from aegis.errors import ConfigError, DataError, MissingDependencyError

__all__ = ["VideoReader", "PyAVReader", "DecordReader", "open_video", "resolve_backend", "count_packets",
           "write_video", "BACKENDS", "AUTO_ORDER", "MAX_PIXELS", "DECODE_TIMEOUT"]

BACKENDS = ("auto", "pyav", "decord")
# Order tried by backend="auto". PyAV comes first: it has wheels for every platform and Python version and none of
# decord's seek bugs; speed does not settle it (docs/data.md: each of the two was ahead in one of the runs of
# benchmarks/data_throughput.py, each run comparing them in the same rounds). torchcodec is not a backend: its CPU
# decoder returned the same frames and was faster there (2026-11-30, bare reader kept open: 121 vs 56 clips/s on
# 320x240, 9.0 vs 7.9 on 720p), but `pip install torchcodec` gives a CUDA build that does not import beside the CPU
# torch this project installs (nor without system FFmpeg libraries); it was measured through the benchmark's
# --torchcodec-cpu-shim.
AUTO_ORDER = ("pyav", "decord")
MAX_PIXELS = 7680 * 4320  # the largest declared frame (H * W) a reader accepts by default: 8K UHD
DECODE_TIMEOUT = 60.0  # seconds one demux pass or one PyAV get_frames call may take by default


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


def _open_stream(av, path: str):
    """(container, its first video stream); a file FFmpeg cannot open or without video is a :class:`DataError`."""
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot open the video ({type(exc).__name__}: {exc})") from None
    if not container.streams.video:
        kinds = ", ".join(s.type for s in container.streams) or "none"
        container.close()
        raise DataError(f"{path}: the file has no video stream (streams: {kinds})")
    return container, container.streams.video[0]


def _check_size(path: str, width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise DataError(f"{path}: the video declares no frame size ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise DataError(f"{path}: the video declares {width}x{height} frames ({width * height} pixels), more than "
                        f"max_pixels={max_pixels}; refused before decoding (raise max_pixels to read it)")


def _deadline(path: str, timeout: float | None, what: str):
    """A function to call now and then: raises :class:`DataError` once ``timeout`` seconds have passed."""
    end = None if timeout is None else time.monotonic() + timeout

    def check(progress: str) -> None:
        if end is not None and time.monotonic() > end:
            raise DataError(f"{path}: {what} took longer than decode_timeout={timeout} s ({progress}); the file may "
                            "be damaged or far larger than expected (raise decode_timeout to read it)")
    return check


def _scan_packets(path: str, timeout: float | None = DECODE_TIMEOUT) -> list[int | None]:
    """Presentation timestamps of the complete video packets stored in the file, in file order (demux only)."""
    av = _import_av()
    file_size = os.path.getsize(path)
    check = _deadline(path, timeout, "counting the stored frames")
    container, stream = _open_stream(av, path)
    stamps: list[int | None] = []
    try:
        for p in container.demux(stream):
            if p.size > 0 and not p.is_corrupt and (p.pos is None or p.pos < 0 or p.pos + p.size <= file_size):
                stamps.append(p.pts)
            check(f"{len(stamps)} packets read")
    except (av.FFmpegError, OSError) as exc:
        raise DataError(f"{path}: cannot read the video stream ({type(exc).__name__}: {exc})") from None
    finally:
        container.close()
    return stamps


def count_packets(path: str, timeout: float | None = DECODE_TIMEOUT) -> int:
    """Number of complete video packets stored in the file (one per frame for H.264/MPEG-4), by demuxing only.

    A packet flagged corrupt or extending past the end of the file (a truncated download) is not counted.
    """
    return len(_scan_packets(path, timeout))


def _checked_count(path: str, reported: int, verify: bool, stored: int | None = None,
                   timeout: float | None = DECODE_TIMEOUT) -> int:
    if not verify:
        return reported
    stored = count_packets(path, timeout) if stored is None else stored
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

    Frame ``i`` is the ``i``-th stored frame in presentation order (timestamps from the demux pass, so a variable
    frame rate is fine); without that pass (``verify_frame_count=False``) indices come from timestamps times the
    average rate (constant frame rate assumed, as decord also assumes). Returns (T, H, W, 3) uint8 RGB.
    """

    def __init__(self, path: str, verify_frame_count: bool = True, num_threads: int = 1,
                 max_pixels: int | None = MAX_PIXELS, decode_timeout: float | None = DECODE_TIMEOUT) -> None:
        av = _import_av()
        self.path = str(path)
        self.decode_timeout = decode_timeout
        self._container, self._stream = _open_stream(av, self.path)
        stream = self._stream
        try:
            self.height, self.width = stream.codec_context.height, stream.codec_context.width
            _check_size(self.path, self.width, self.height, max_pixels)
            stream.thread_count = max(1, int(num_threads))
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.fps = float(rate) if rate else 0.0
            reported = int(stream.frames or 0)
            if reported <= 0 and stream.duration and stream.time_base and self.fps:
                reported = int(round(float(stream.duration * stream.time_base) * self.fps))
            self.reported_frames = reported
            self._start_pts = stream.start_time if stream.start_time is not None else 0
            self._pts: list[int] | None = None  # presentation order, from the demux pass
            stored = None
            if verify_frame_count or reported <= 0:
                stamps = _scan_packets(self.path, decode_timeout)
                stored = len(stamps)
                if stamps and all(t is not None for t in stamps) and len(set(stamps)) == len(stamps):
                    self._pts = sorted(stamps)
            self.num_frames = _checked_count(self.path, reported, verify_frame_count or reported <= 0, stored)
            self._order = {t: i for i, t in enumerate(self._pts)} if self._pts else None
        except BaseException:
            self._container.close()
            raise

    def _index_of(self, frame) -> int | None:
        if frame.pts is None:
            return None
        if self._order is not None:
            return self._order.get(frame.pts)
        if not self.fps:
            return None
        seconds = float((frame.pts - self._start_pts) * self._stream.time_base)
        return int(round(seconds * self.fps))

    def _seek_target(self, first: int) -> int | None:
        if self._pts is not None:
            return self._pts[first]
        if first > 0 and self.fps:
            return self._start_pts + int(first / self.fps / self._stream.time_base)
        return self._start_pts

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as (T, H, W, 3) uint8; at most ``decode_timeout`` s."""
        av = _import_av()
        idx = _check_indices(self.path, indices, self.num_frames)
        wanted = set(idx)
        first, last = min(idx), max(idx)
        found: dict[int, np.ndarray] = {}
        stream = self._stream
        check = _deadline(self.path, self.decode_timeout, "decoding")
        try:
            self._container.seek(self._seek_target(first), stream=stream, backward=True, any_frame=False)
            counter, done = -1, False
            for packet in self._container.demux(stream):
                check(f"{len(found)} of {len(wanted)} wanted frames decoded")
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
    """Read frames with decord's ``VideoReader.get_batch``; the declared frame size is checked (with PyAV) and the
    frame count against the stored packets first, so decord is never asked for a frame past the real end nor given
    a frame-size bomb. Returns (T, H, W, 3) uint8 RGB."""

    def __init__(self, path: str, verify_frame_count: bool = True, num_threads: int = 1,
                 max_pixels: int | None = MAX_PIXELS, decode_timeout: float | None = DECODE_TIMEOUT) -> None:
        decord = _import_decord()
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise DataError(f"{self.path}: no such file")
        av = _import_av()
        container, stream = _open_stream(av, self.path)
        try:
            _check_size(self.path, stream.codec_context.width, stream.codec_context.height, max_pixels)
            try:  # decord 0.6 swaps H and W of a rotated stream, then fails copying every frame
                rotation = next(container.decode(stream)).rotation
            except (av.FFmpegError, StopIteration):
                rotation = 0  # no first frame: decord's own open and the frame count report it
        finally:
            container.close()
        if rotation:
            raise DataError(f"{self.path}: the video has rotation metadata ({rotation} degrees), which decord cannot "
                            "read; use backend='pyav' (frames as stored, rotation not applied)")
        try:
            self._reader = decord.VideoReader(self.path, num_threads=max(1, int(num_threads)))
        except Exception as exc:  # decord raises DECORDError / RuntimeError with FFmpeg's message
            raise DataError(f"{self.path}: cannot open the video ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        self.reported_frames = len(self._reader)
        self.fps = float(self._reader.get_avg_fps())
        self._shape: tuple[int, int] | None = None
        self.num_frames = _checked_count(self.path, self.reported_frames, verify_frame_count,
                                         timeout=decode_timeout)

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
            reason = ("it has wheels for every platform and none of decord's seek bugs (docs/data.md)"
                      if name == AUTO_ORDER[0] else f"{AUTO_ORDER[0]} is unavailable")
            print_log(f"video backend 'auto' uses {name}: {reason}", logger="current", level=logging.INFO)
            return name
    raise MissingDependencyError("No video backend is installed: pip install av (or decord).")


def open_video(path: str, backend: str = "auto", verify_frame_count: bool = True, num_threads: int = 1,
               max_pixels: int | None = MAX_PIXELS, decode_timeout: float | None = DECODE_TIMEOUT):
    """Open ``path`` with the named backend and return a :class:`VideoReader`; problems raise :class:`DataError`.

    ``max_pixels`` (declared H * W) and ``decode_timeout`` (seconds; None for no limit) bound the work a bad file can
    cause (module docstring)."""
    name = resolve_backend(backend)
    path = str(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    if not os.path.isfile(path):
        raise DataError(f"{path}: not a file")
    reader = _READERS[name](path, verify_frame_count=verify_frame_count, num_threads=num_threads,
                            max_pixels=max_pixels, decode_timeout=decode_timeout)
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
