"""tools/eval_rl.py: a trained checkpoint against a random policy on the same seeds, plus an episode video."""
import importlib.util
import json
import uuid
from pathlib import Path

import av
import pytest

REPO = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("eval_rl_tool", REPO / "tools" / "eval_rl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A 32-step PPO run on the tiny DisasterRescue env (8-step episodes, 16x16 frames); returns its last checkpoint."""
    from aegis_plugins.policies.rl_runner import RLRunner

    encoder = dict(type="SmallCNNEncoder", embed_dim=32, channels=(8, 16), kernel_sizes=(4, 3), strides=(2, 1))
    runner = RLRunner(
        env=dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16),
        policy=dict(type="PPOAgent", features_extractor=encoder, features_dim=32, net_arch=(32,), n_steps=8,
                    batch_size=16, n_epochs=1),
        train_cfg=dict(type="RLTrainLoop", total_timesteps=32, n_envs=2, eval_episodes=0),
        work_dir=str(tmp_path / "run"), randomness=dict(seed=0), log_level="WARNING",
        experiment_name=f"eval_rl_{uuid.uuid4().hex[:8]}")
    runner.train()
    return str(tmp_path / "run" / "step_32.pth")


def test_reports_trained_and_random_and_writes_a_video(tiny_checkpoint, tmp_path, capsys):
    video = tmp_path / "episode.mp4"
    assert _tool().main(["--checkpoint", tiny_checkpoint, "--episodes", "3", "--video", str(video), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for key in ("success_rate", "mean_return", "rescued", "spl"):
        assert key in metrics and f"random_{key}" in metrics
    assert metrics["episodes"] == 3 and metrics["num_timesteps"] == 32
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert 2 <= len(frames) <= 9  # reset frame + at most 8 steps
    assert frames[0].shape == (64, 64, 3)  # 16x16 frames enlarged 4x


def test_prints_a_table_and_can_write_a_gif(tiny_checkpoint, tmp_path, capsys):
    from PIL import Image

    gif = tmp_path / "episode.gif"
    assert _tool().main(["--checkpoint", tiny_checkpoint, "--episodes", "2", "--video", str(gif)]) == 0
    out = capsys.readouterr().out
    assert "trained" in out and "random" in out and "success rate" in out and "SPL" in out
    assert Image.open(gif).n_frames >= 2


def test_a_bad_checkpoint_is_reported_by_path(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 10)
    assert _tool().main(["--checkpoint", str(bad), "--episodes", "1", "--video", "none"]) == 2
    assert "bad.pth" in capsys.readouterr().err
