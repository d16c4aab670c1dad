"""The behaviour-cloning probe: expert labels are the scripted rescuer's actions, and the probe reads a readable
setting far above the floor and a constant input not at all."""
import numpy as np
import torch

from aegis_plugins.policies.feature_probe import ExpertFrames, behaviour_cloning_accuracy, record_expert_frames
from aegis_plugins.policies.heuristic import plan_action
from aegis_plugins.envs.disaster import DisasterRescueEnv

ENV = dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16)
VIT = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=4, tubelet_size=1,
           frozen=True)


def test_frames_are_labelled_with_the_scripted_rescuers_action():
    data = record_expert_frames(ENV, samples=20, seed=3, n_envs=2)
    assert data.frames.shape == (20, 16, 16, 3) and data.frames.dtype == np.uint8 and data.n_actions == 4
    env = DisasterRescueEnv(preset="easy", grid_size=6, max_steps=8, obs_size=16)
    obs, _ = env.reset(seed=3)  # env 0 of the recording, first frame
    assert np.array_equal(obs, data.frames[0])
    assert data.actions[0] == plan_action(env.get_state()["episode"], env.config)


def test_the_probe_reads_where_the_victim_is_and_not_from_a_blank_screen():
    torch.manual_seed(0)
    data = record_expert_frames(ENV, samples=1200, seed=0)
    floor = np.bincount(data.actions[900:]).max() / 300
    readable = behaviour_cloning_accuracy(data, VIT, train=900, steps=400, lr=3e-3, tokens="flatten", token_dim=8,
                                          features_dim=64)
    blank = ExpertFrames(np.zeros_like(data.frames), data.actions, data.observation_space, data.n_actions)
    unreadable = behaviour_cloning_accuracy(blank, VIT, train=900, steps=400, lr=3e-3, tokens="flatten", token_dim=8,
                                            features_dim=64)
    assert readable > floor + 0.15
    assert unreadable <= floor + 0.02
