"""Decoding: decord and PyAV agree frame for frame on real files; over-reported frame counts are capped."""
from __future__ import annotations

import numpy as np
import pytest

from aegis.errors import ConfigError, DataError
from aegis_plugins.data.video_io import count_packets, open_video, resolve_backend, write_video


def _textured(num_frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A moving random texture: hard for the encoder, so B-frames and real motion compensation are exercised."""
    rng = np.random.default_rng(seed)
    tex = (rng.random((height, width * 2, 3)) * 255).astype(np.uint8)
    return np.stack([np.roll(tex, 2 * i, axis=1)[:, :width] for i in range(num_frames)])


@pytest.mark.parametrize("size", [(24, 32), (240, 320)])
def test_decord_and_pyav_return_the_same_frames(tmp_path, size):
    h, w = size
    path = write_video(str(tmp_path / "v.mp4"), _textured(40, h, w), fps=25, preset="medium")
    indices = [0, 1, 17, 39, 5, 5, 30, 2]
    a = open_video(path, "pyav").get_frames(indices)
    b = open_video(path, "decord").get_frames(indices)
    assert a.shape == (len(indices), h, w, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)


def test_frames_come_back_in_the_order_asked(ramp_video):
    for backend in ("pyav", "decord"):
        frames = open_video(ramp_video, backend).get_frames([12, 0, 19])
        assert np.abs(frames[:, -1, -1, 1].astype(int) - [125, 5, 195]).max() <= 3


def test_over_reported_frame_count_is_capped_to_stored_packets(tmp_path):
    path = write_video(str(tmp_path / "full.mp4"), _textured(60, 24, 32), fps=25, faststart=True)
    data = open(path, "rb").read()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: int(len(data) * 0.6)])  # index (moov, at the front) still lists 60 frames
    stored = count_packets(str(truncated))
    assert 10 < stored < 60
    reader = open_video(str(truncated), "pyav")
    assert reader.reported_frames == 60 and reader.num_frames == stored
    assert reader.get_frames(range(stored)).shape[0] == stored  # every counted frame decodes
    with pytest.raises(DataError, match="outside the"):
        reader.get_frames([59])
    unchecked = open_video(str(truncated), "pyav", verify_frame_count=False)
    with pytest.raises(DataError, match="could not be decoded"):  # ends with an error, not a hang or garbage
        unchecked.get_frames([59])


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_missing_empty_and_garbage_files_raise_data_error(tmp_path, backend):
    with pytest.raises(DataError, match="no such file"):
        open_video(str(tmp_path / "nope.mp4"), backend)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        open_video(str(tmp_path / "empty.mp4"), backend)
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 50)
    with pytest.raises(DataError, match="junk.mp4"):
        open_video(str(tmp_path / "junk.mp4"), backend)


def test_backend_names_are_checked_and_auto_resolves():
    assert resolve_backend("auto") in ("pyav", "decord")
    with pytest.raises(ConfigError, match="Did you mean 'decord'"):
        resolve_backend("decrod")


def test_writer_is_byte_deterministic_and_checks_size(tmp_path, make_ramp):
    a = write_video(str(tmp_path / "a.mp4"), make_ramp(height=32))
    b = write_video(str(tmp_path / "b.mp4"), make_ramp(height=32))
    assert open(a, "rb").read() == open(b, "rb").read()
    with pytest.raises(ConfigError, match="even size"):
        write_video(str(tmp_path / "c.mp4"), make_ramp(height=23))
