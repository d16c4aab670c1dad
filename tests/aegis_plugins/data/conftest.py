"""Fixtures of the data tests: a tiny synthetic set (made once per session) and a writer for real H.264 files."""
from __future__ import annotations

import numpy as np
import pytest

from aegis_plugins.data.synthetic import generate_dataset
from aegis_plugins.data.video_io import write_video


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """12 synthetic videos (2 per class), 32x32, 16 frames, seed 0; returns the folder holding captions.json."""
    root = tmp_path_factory.mktemp("synthetic")
    generate_dataset(str(root), num_videos=12, seed=0, size=32, frames=16)
    return root


def ramp_frames(num_frames: int = 20, height: int = 24, width: int = 32) -> np.ndarray:
    """(T, H, W, 3) uint8 frames whose brightness encodes the frame index (frame i has value 10 * i mod 250 + 5)."""
    values = (np.arange(num_frames) * 10 % 250 + 5).astype(np.uint8)
    frames = np.broadcast_to(values[:, None, None, None], (num_frames, height, width, 3)).copy()
    frames[:, : height // 2, : width // 2, 0] = 255  # a red quadrant in the top-left, to check flips and crops
    return frames


@pytest.fixture
def ramp_video(tmp_path):
    """A real 20-frame 32x24 H.264 file whose frame i has brightness 10 * i + 5; returns its path."""
    return write_video(str(tmp_path / "ramp.mp4"), ramp_frames(), fps=10)


@pytest.fixture
def make_ramp():
    """The :func:`ramp_frames` maker, for tests that need frames of another size."""
    return ramp_frames
