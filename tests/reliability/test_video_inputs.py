"""Door 1, videos: truncated, random, empty, zero- and one-frame, huge declared size, rotated, variable frame rate,
and the decoding time limit. Each input must be read correctly or refused with a DataError naming the file."""
from __future__ import annotations

import random
import struct
from fractions import Fraction

import av
import numpy as np
import pytest

from aegis.errors import DataError
from aegis_plugins.data.video_io import open_video, write_video

BACKENDS = ("pyav", "decord")
SEED = 0


def ramp(num_frames: int = 20, height: int = 24, width: int = 32) -> np.ndarray:
    """Frame i has brightness 10 * i + 5 (as tests/aegis_plugins/data's ramp video), a red top-left quadrant."""
    values = (np.arange(num_frames) * 10 % 250 + 5).astype(np.uint8)
    frames = np.broadcast_to(values[:, None, None, None], (num_frames, height, width, 3)).copy()
    frames[:, : height // 2, : width // 2, 0] = 255
    return frames


def read_all(path: str, backend: str, **kwargs) -> np.ndarray:
    reader = open_video(path, backend=backend, **kwargs)
    try:
        return reader.get_frames(range(reader.num_frames))
    finally:
        reader.close()


def assert_ramp_prefix(frames: np.ndarray, total: int = 20) -> None:
    """What a reader accepted must be the first frames of the ramp, in order, at the stored size."""
    assert frames.dtype == np.uint8 and frames.shape[1:] == (24, 32, 3) and 1 <= len(frames) <= total
    want = np.arange(len(frames)) * 10 % 250 + 5
    np.testing.assert_allclose(frames[:, 20, 28, 1].astype(float), want, atol=6)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    plain = write_video(str(root / "ramp.mp4"), ramp(), fps=10)  # index (moov) at the end
    fast = write_video(str(root / "ramp_fast.mp4"), ramp(), fps=10, faststart=True, keyint=5)  # index first
    return root, plain, fast


def _offsets(size: int, count: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(1, size), count))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", ["plain", "faststart"])
def test_truncated_videos_are_read_up_to_the_cut_or_refused(probe, sources, backend, layout):
    root, plain, fast = sources
    data = open(plain if layout == "plain" else fast, "rb").read()
    for off in _offsets(len(data), 20, SEED):
        path = root / f"{layout}_cut{off}.mp4"
        path.write_bytes(data[:off])
        out = probe("video", f"{layout} truncated at {off} ({backend})", read_all, str(path), backend)
        assert out.kind in ("named", "accepted"), out.error
        if out.kind == "named":
            assert isinstance(out.error, DataError) and str(path) in str(out.error)
        else:  # the index survived the cut: what is stored before it is read, nothing past it
            assert_ramp_prefix(out.value)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_random_bytes_are_refused(probe, tmp_path, backend, ext):
    rng = random.Random(f"{SEED}{ext}")
    for i in range(8):
        path = tmp_path / f"random{i}{ext}"
        path.write_bytes(rng.randbytes(rng.randint(1, 4096)))
        out = probe("video", f"random bytes {path.name} ({backend})", read_all, str(path), backend)
        assert out.kind == "named" and str(path) in str(out.error), out.error


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_zero_frame_and_audio_only_files_are_refused(probe, sources, tmp_path, backend):
    _, _, fast = sources
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    data = open(fast, "rb").read()
    no_frames = tmp_path / "index_only.mp4"  # the index claims 20 frames; the file ends before the first one
    no_frames.write_bytes(data[:data.index(b"mdat") + 4])
    audio = tmp_path / "audio_only.mp4"
    with av.open(str(audio), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    expected = {empty: "empty", no_frames: "no decodable frames|could not be decoded|cannot open",
                audio: "no video stream|cannot open"}
    for path, pattern in expected.items():
        out = probe("video", f"{path.name} ({backend})", read_all, str(path), backend)
        assert out.kind == "named", out.error
        assert str(path) in str(out.error)
        import re
        assert re.search(pattern, str(out.error)), str(out.error)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_one_frame_video_reads_one_frame(probe, tmp_path, backend):
    path = write_video(str(tmp_path / "one.mp4"), ramp(1), fps=10)
    out = probe("video", f"one frame ({backend})", read_all, path, backend)
    assert out.kind == "accepted", out.error
    assert_ramp_prefix(out.value, total=1)
    assert len(out.value) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_huge_declared_frame_size_is_refused_before_decoding(probe, tmp_path, backend):
    for w, h in ((16000, 16000), (12000, 9000)):  # under FFmpeg's own limit (about 268M pixels)
        path = tmp_path / f"huge_{w}x{h}.mp4"  # a raw YUV4MPEG header; FFmpeg probes the content, not the name
        path.write_bytes(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode() + b"FRAME\n" + bytes(4096))
        out = probe("video", f"declared {w}x{h} ({backend})", read_all, str(path), backend)
        assert out.kind == "named", out.error
        assert f"{w}x{h}" in str(out.error) and "max_pixels" in str(out.error)
    path = tmp_path / "huge_100000x100000.mp4"  # past FFmpeg's own limit: FFmpeg refuses to open it
    path.write_bytes(b"YUV4MPEG2 W100000 H100000 F10:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(4096))
    out = probe("video", f"declared 100000x100000 ({backend})", read_all, str(path), backend)
    assert out.kind == "named" and str(path) in str(out.error), out.error
    small = write_video(str(tmp_path / "small.mp4"), ramp(4), fps=10)  # the limit is a reader argument
    out = probe("video", f"max_pixels below a real video ({backend})", read_all, small, backend, max_pixels=100)
    assert out.kind == "named" and "32x24" in str(out.error) and "max_pixels=100" in str(out.error)


def _rotated(path: str, out: str) -> str:
    """``path`` with its track matrix edited to a 90 degree rotation (the display matrix phones write)."""
    data = bytearray(open(path, "rb").read())
    identity = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    at = data.index(identity, data.index(b"tkhd"))
    data[at:at + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    open(out, "wb").write(bytes(data))
    return out


def test_rotation_metadata_pyav_reads_as_stored_decord_refuses_by_name(probe, tmp_path):
    path = _rotated(write_video(str(tmp_path / "upright.mp4"), ramp(12), fps=10), str(tmp_path / "rot90.mp4"))
    with av.open(path) as container:  # the edit took: FFmpeg sees the rotation
        assert next(container.decode(video=0)).rotation in (90, -90)
    out = probe("video", "rotation 90 (pyav)", read_all, path, "pyav")
    assert out.kind == "accepted", out.error
    assert out.value.shape == (12, 24, 32, 3)  # frames as stored, not rotated
    assert_ramp_prefix(out.value, total=12)
    # decord 0.6 swaps H and W for a rotated stream and then fails copying the frame: refused up front instead
    out = probe("video", "rotation 90 (decord)", read_all, path, "decord")
    assert out.kind == "named" and "rotation" in str(out.error) and "backend='pyav'" in str(out.error)


def _vfr_video(path: str, frames: np.ndarray, gaps_ms: list[int]) -> str:
    with av.open(path, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, pts in enumerate(np.cumsum([0] + gaps_ms)):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts, frame.time_base = int(pts), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_variable_frame_rate_gives_every_frame_in_order(probe, tmp_path):
    path = _vfr_video(str(tmp_path / "vfr.mp4"), ramp(12), [100, 50, 150, 100, 300, 100, 100, 40, 60, 100, 200])
    results = {b: probe("video", f"variable frame rate ({b})", read_all, path, b) for b in BACKENDS}
    for out in results.values():
        assert out.kind == "accepted", out.error
        assert out.value.shape == (12, 24, 32, 3)
        assert_ramp_prefix(out.value, total=12)
    reader = open_video(path, backend="pyav")  # a middle slice, through a seek
    try:
        np.testing.assert_array_equal(reader.get_frames([7, 3, 9]), results["pyav"].value[[7, 3, 9]])
    finally:
        reader.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_decoding_time_limit_is_a_named_error(probe, sources, backend):
    _, plain, _ = sources
    out = probe("video", f"decode_timeout=0 ({backend})", read_all, plain, backend, decode_timeout=0.0)
    assert out.kind == "named", out.error
    assert "decode_timeout=0.0" in str(out.error) and plain in str(out.error)
    if backend == "pyav":  # the limit also holds inside get_frames, after opening
        reader = open_video(plain, backend="pyav")
        reader.decode_timeout = 0.0
        with pytest.raises(DataError, match=r"decoding took longer than decode_timeout=0.0 s"):
            reader.get_frames(range(20))
        reader.close()
