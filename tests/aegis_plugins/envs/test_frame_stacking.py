"""aegis_plugins/envs/frame_stacking.py: frames stacked by SB3's VecFrameStack (as the RL runner does) read back as
a clip (B, C, T, H, W) in time order."""
from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

from aegis_plugins.envs.disaster import DisasterRescueEnv
from aegis_plugins.envs.disaster import frames_to_clip as old_path
from aegis_plugins.envs.frame_stacking import frames_to_clip

EAST, SOUTH, WEST = 1, 2, 3


def test_vec_frame_stack_output_becomes_a_clip_oldest_first():
    single = DisasterRescueEnv(preset="medium")  # the same seed and actions, unstacked, for the expected frames
    frames = [single.reset(seed=0)[0]]
    envs = VecFrameStack(DummyVecEnv([lambda: DisasterRescueEnv(preset="medium")]), n_stack=4)
    envs.seed(0)
    obs = envs.reset()  # (1, 64, 64, 12)
    for action in (EAST, SOUTH, WEST):
        obs, *_ = envs.step(np.array([action]))
        frames.append(single.step(action)[0])
    clip = frames_to_clip(obs, 4)
    assert obs.shape == (1, 64, 64, 12) and clip.shape == (1, 3, 4, 64, 64) and clip.flags.c_contiguous
    for t in range(4):
        assert np.array_equal(clip[0, :, t], frames[t].transpose(2, 0, 1))
    assert old_path is frames_to_clip  # the old import path still works
