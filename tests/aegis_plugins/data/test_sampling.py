"""Clip sampling: spans, random/centred/uniform starts and the short-video policies."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from aegis.errors import ConfigError, DataError
from aegis_plugins.data.sampling import clip_span, sample_clip_indices


def test_defaults_take_16_frames_every_2():
    idx = sample_clip_indices(100, mode="center")
    assert idx.shape == (1, 16)
    assert np.all(np.diff(idx[0]) == 2)
    assert clip_span(16, 2) == 31 and idx[0, 0] == (100 - 31) // 2


def test_random_starts_cover_the_video_and_stay_inside():
    torch.manual_seed(0)
    starts = {int(sample_clip_indices(40, 4, 3, mode="random")[0, 0]) for _ in range(300)}
    assert starts == set(range(40 - clip_span(4, 3) + 1))


def test_uniform_clips_are_evenly_spaced_from_first_to_last_start():
    idx = sample_clip_indices(50, 5, 2, num_clips=3, mode="uniform")
    assert idx[:, 0].tolist() == [0, 20, 41] and idx[-1, -1] == 49


@pytest.mark.parametrize("policy, expected", [("loop", [0, 2, 4, 1, 3]), ("pad", [0, 2, 4, 4, 4])])
def test_short_video_policies(policy, expected):
    idx = sample_clip_indices(5, 5, 2, mode="random", short_video=policy)
    assert idx[0].tolist() == expected


def test_short_video_error_and_bad_arguments():
    with pytest.raises(DataError, match="fewer than the 9"):
        sample_clip_indices(5, 5, 2, short_video="error")
    with pytest.raises(DataError, match="no frames"):
        sample_clip_indices(0)
    with pytest.raises(ConfigError, match="short_video='wrap'"):
        sample_clip_indices(10, short_video="wrap")
    with pytest.raises(ConfigError, match="mode="):
        sample_clip_indices(10, mode="middle")
