"""EnvTransitionDataset: random-action episodes of an env recorded once, reproducibly, and served as windows."""
import numpy as np
import pytest
import torch

from aegis.errors import ConfigError
from aegis_plugins.data.env_transitions import EnvTransitionDataset, record_episodes, stack_window
from aegis_plugins.envs.disaster import DisasterRescueEnv

TINY_ENV = dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16)


def _dataset(root, **kwargs):
    args = dict(env=TINY_ENV, data_root=str(root), episodes=10, val_episodes=2, seed=3, frame_stack=2,
                rollout_steps=2)
    args.update(kwargs)
    return EnvTransitionDataset(**args)


def test_recording_is_reproducible_by_seed_and_differs_between_seeds():
    a, b = record_episodes(TINY_ENV, 4, seed=5), record_episodes(TINY_ENV, 4, seed=5)
    c = record_episodes(TINY_ENV, 4, seed=6)
    for key in ("frames", "actions", "lengths", "success"):
        np.testing.assert_array_equal(a[key], b[key])
    assert len(a["frames"]) == int((a["lengths"] + 1).sum()) and len(a["actions"]) == int(a["lengths"].sum())
    assert not (len(a["actions"]) == len(c["actions"]) and np.array_equal(a["actions"], c["actions"]))


def test_windows_replay_the_env_and_pad_the_first_stack_with_zeros(tmp_path):
    ds = _dataset(tmp_path / "rec", split="all")
    episode_frames, episode_actions = ds.episodes[1]
    first = ds.index.index((1, 0))
    item = ds[first]
    assert item["inputs"].dtype == torch.uint8 and item["inputs"].shape == (4, 16, 16, 3)
    assert item["actions"].tolist() == episode_actions[:2].tolist()
    assert int(item["inputs"][0].abs().sum()) == 0  # before the episode's first frame: zeros, as VecFrameStack pads
    # playing the recorded actions from the recorded seed gives the recorded frames
    env = DisasterRescueEnv("easy", grid_size=6, max_steps=8, obs_size=16)
    obs, _ = env.reset(seed=3 + 1)
    replay = [obs]
    for action in episode_actions:
        replay.append(env.step(int(action))[0])
    np.testing.assert_array_equal(np.stack(replay), episode_frames)
    np.testing.assert_array_equal(item["inputs"][1:].numpy(), np.stack(replay[:3]))


def test_stack_window_shapes_and_padding():
    frames = np.arange(5)[:, None, None, None] * np.ones((5, 2, 2, 1), dtype=np.uint8)  # frame i holds value i
    assert stack_window(frames, 0, 3, 2)[:, 0, 0, 0].tolist() == [0, 0, 1, 2]
    assert stack_window(frames, 2, 2, 3)[:, 0, 0, 0].tolist() == [0, 1, 2, 3]


def test_splits_hold_out_the_last_episodes_and_are_cached(tmp_path):
    root = tmp_path / "rec"
    train, val = _dataset(root, split="train"), _dataset(root, split="val")
    assert len(train.episodes) == 8 and len(val.episodes) == 2
    np.testing.assert_array_equal(val.episodes[0][0], _dataset(root, split="all").episodes[8][0])
    assert {"inputs", "actions"} <= set(train[len(train) - 1])
    assert train.metainfo["steps"] == sum(len(a) for _, a in train.episodes)


def test_a_folder_recorded_with_other_settings_is_refused(tmp_path):
    root = tmp_path / "rec"
    _dataset(root)
    with pytest.raises(ConfigError, match="seed=3 there, 4 asked"):
        _dataset(root, seed=4)


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="val_episodes=10"):
        EnvTransitionDataset(env=TINY_ENV, data_root="unused", episodes=10, val_episodes=10)
    with pytest.raises(ConfigError, match="split='test'"):
        EnvTransitionDataset(env=TINY_ENV, data_root="unused", split="test")
