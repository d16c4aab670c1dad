"""rl_eval: trained and random policies play the same seeded episodes (SB3's evaluate_policy); videos are real."""
import importlib.util
from pathlib import Path

import av
import pytest
import numpy as np
from PIL import Image

from aegis_plugins.policies.rl_eval import run_episodes, summarize, write_video

REPO = Path(__file__).resolve().parents[3]


class _Constant:
    """A policy in SB3's predict form that always takes ``action`` and remembers what it saw."""

    def __init__(self, action):
        self.action, self.seen = action, []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        self.seen.append(observation.copy())
        return np.full(len(observation), self.action), state


def test_random_episodes_are_reproducible_and_seeded_per_episode(tiny_env):
    first, _ = run_episodes(tiny_env, None, episodes=4, seed=7)
    again, _ = run_episodes(tiny_env, None, episodes=4, seed=7)
    other, _ = run_episodes(tiny_env, None, episodes=4, seed=8)
    assert first == again
    assert first[1:] == other[:-1]  # episode i uses seed + i
    assert set(first[0]) == {"episode_return", "length", "rescued", "lost", "success", "spl"}


def test_a_policy_and_random_face_the_same_maps(tiny_env):
    _, policy_frames = run_episodes(tiny_env, _Constant(0), episodes=1, seed=3, record_first=True)
    _, random_frames = run_episodes(tiny_env, None, episodes=1, seed=3, record_first=True)
    np.testing.assert_array_equal(policy_frames[0], random_frames[0])


def test_frame_stacking_matches_training(tiny_env):
    policy = _Constant(1)
    run_episodes(tiny_env, policy, episodes=1, seed=0, frame_stack=3)
    seen = [obs[0] for obs in policy.seen]  # batches of one observation, as VecFrameStack stacks them in training
    assert seen[0].shape == (16, 16, 9)
    assert not seen[0][..., :6].any()  # VecFrameStack semantics: older slots start empty
    np.testing.assert_array_equal(seen[1][..., 3:6], seen[0][..., 6:9])


def test_summary_means():
    results = [dict(episode_return=1.0, length=4, success=1.0, rescued=1.0, lost=0.0, spl=0.5),
               dict(episode_return=-1.0, length=8, success=0.0, rescued=0.0, lost=1.0, spl=0.0)]
    assert summarize(results) == dict(mean_return=0.0, mean_length=6.0, episodes=2, success_rate=0.5, rescued=0.5,
                                      lost=0.5, spl=0.25)


def test_videos_decode_with_every_frame(tmp_path):
    frames = [np.full((16, 16, 3), 20 * i, np.uint8) for i in range(5)]
    mp4 = write_video(frames, str(tmp_path / "a.mp4"))
    with av.open(mp4) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 5 and decoded[0].shape == (64, 64, 3)
    assert abs(int(decoded[4].mean()) - 80) <= 3
    gif = write_video(frames, str(tmp_path / "a.gif"))
    assert Image.open(gif).n_frames == 5


def test_a_sampling_policy_is_reproducible(tiny_env):
    import torch

    class Sample:
        def predict(self, observation, state=None, episode_start=None, deterministic=False):
            return torch.randint(0, 4, (len(observation),)).numpy(), state

    sample = Sample()
    first, _ = run_episodes(tiny_env, sample, episodes=3, seed=11)
    torch.manual_seed(123)  # whatever happened before the evaluation
    again, _ = run_episodes(tiny_env, sample, episodes=3, seed=11)
    assert first == again


def test_several_policies_face_the_same_episodes_and_report_one_column_each(tiny_env):
    from aegis_plugins.policies.rl_eval import compare_policies, flat_metrics, format_report

    summaries = compare_policies(tiny_env, {"trained": _Constant(0), "random": "random", "heuristic": "heuristic"},
                                 episodes=6, seed=5)
    assert list(summaries) == ["trained", "random", "heuristic"]
    random_alone, _ = run_episodes(tiny_env, None, episodes=6, seed=5)
    assert {k: v for k, v in summaries["random"].items() if k != "seconds_per_action"} == summarize(random_alone)
    # a 4x4 room and 8 steps: the map-knowing rescuer reaches every victim on the shortest path
    assert summaries["heuristic"]["success_rate"] == 1.0 and summaries["heuristic"]["spl"] == 1.0
    assert summaries["random"]["success_rate"] < 1.0
    assert all(0 < s["seconds_per_action"] < 1 for s in summaries.values())

    metrics = flat_metrics(summaries, main="trained")
    assert metrics["policies"] == ["trained", "random", "heuristic"]
    assert metrics["heuristic_success_rate"] == 1.0 and metrics["random_spl"] == summaries["random"]["spl"]
    assert metrics["success_rate"] == summaries["trained"]["success_rate"] and "random_episodes" not in metrics
    table = format_report(metrics).splitlines()
    assert table[0].split() == ["trained", "random", "heuristic"]
    success = table[1].split()
    assert success[:2] == ["success", "rate"] and float(success[4]) == 1.0
    assert [line.split()[0] for line in table[1:]] == ["success", "victims", "victims", "SPL", "mean", "episode",
                                                       "ms"]


def test_a_reference_may_observe_differently_but_must_play_the_same_world(tiny_env):
    from aegis.errors import ConfigError
    from aegis_plugins.policies.rl_eval import Player, compare_policies

    seen = _Constant(1)
    summaries = compare_policies(tiny_env, {"random": "random", "big": Player(seen, dict(tiny_env, obs_size=24), 2)},
                                 episodes=2, seed=0)
    assert seen.seen[0].shape == (1, 24, 24, 6) and summaries["big"]["episodes"] == 2  # its own view and stack
    with pytest.raises(ConfigError, match=r"'other'.*differ in \['max_steps'\]"):
        compare_policies(tiny_env, {"random": "random", "other": Player(seen, dict(tiny_env, max_steps=9))},
                         episodes=1, seed=0)
    with pytest.raises(ConfigError, match="Did you mean 'heuristic'"):
        compare_policies(tiny_env, {"x": "heuristc"}, episodes=1, seed=0)


def test_training_reports_baselines_and_reference_checkpoints(tiny_rl_cfg, tmp_path, capsys):
    import json

    from aegis_plugins.policies.rl_runner import RLRunner

    spec = importlib.util.spec_from_file_location("aegis_tool_eval_rl", REPO / "tools" / "eval_rl.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    first = tiny_rl_cfg(work_dir=tmp_path / "first", total_timesteps=16)
    RLRunner.from_cfg(first).train()
    cfg = tiny_rl_cfg(work_dir=tmp_path / "second", eval_episodes=4, eval_video=False,
                      eval_baselines=("random", "heuristic"), eval_references=dict(earlier=first["work_dir"]))
    RLRunner.from_cfg(cfg).train()
    metrics = json.load(open(tmp_path / "second" / "metrics.json"))
    assert metrics["eval/policies"] == ["trained", "random", "heuristic", "earlier"]
    for name in ("", "random_", "heuristic_", "earlier_"):
        for key in ("success_rate", "rescued", "lost", "spl", "mean_return", "mean_length", "seconds_per_action"):
            assert f"eval/{name}{key}" in metrics, (name, key)
    assert metrics["eval/heuristic_success_rate"] == 1.0 and metrics["eval/episodes"] == 4

    capsys.readouterr()  # the runs' logs
    assert tool.main(["--checkpoint", str(tmp_path / "second"), "--episodes", "3", "--video", "none",
                    "--reference", f"earlier={first['work_dir']}"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if "episodes on seeds" in line) + 1
    assert lines[header].split() == ["trained", "random", "heuristic", "earlier"]  # default baselines: both
    assert "earlier: 16 steps" in out


def test_bad_baselines_and_references_fail_before_training(tiny_rl_cfg, tmp_path):
    from aegis.errors import CheckpointError, ConfigError
    from aegis_plugins.policies.rl_runner import RLRunner

    with pytest.raises(ConfigError, match="Did you mean 'heuristic'"):
        RLRunner.from_cfg(tiny_rl_cfg(eval_baselines=("random", "heuristik"))).train()
    with pytest.raises(CheckpointError, match="train_cfg.eval_references.cnn"):
        RLRunner.from_cfg(tiny_rl_cfg(eval_references=dict(cnn=str(tmp_path / "missing")))).train()
    assert not (tmp_path / "run" / "step_32.pth").exists()
