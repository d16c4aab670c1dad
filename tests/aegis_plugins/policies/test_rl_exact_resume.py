"""Exact resume of RL runs (RLTrainLoop): a run stopped or killed anywhere and resumed from its newest checkpoint ends
bit-identical to an uninterrupted one, because a step_<N>.pth carries the generators, SB3's last observations and
episode starts, and every env's episode in progress (DisasterRescueEnv.get_state) with Monitor's running episode."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook

from aegis.engine import RunStopped, request_stop
from aegis.engine.stop import clear_stop_request
from aegis_plugins.policies.rl_runner import RLRunner

ROOT = Path(__file__).resolve().parents[3]
# conftest.py's tiny env and policy; fire spreads with the env's own generator at every step, so an episode in
# progress depends on that generator's state too
FIRE_ENV = dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16, num_fires=1,
                p_spread=0.3)
TINY_POLICY = dict(type="PPOAgent", features_extractor=dict(type="SmallCNNEncoder", embed_dim=32, channels=(8, 16),
                                                             kernel_sizes=(4, 3), strides=(2, 1)),
                   features_dim=32, net_arch=(32,), n_steps=8, batch_size=16, n_epochs=1)


def _cfg(work_dir, env=None, policy=None, **train_cfg):
    loop = dict(type="RLTrainLoop", total_timesteps=64, n_envs=2, checkpoint_interval=16, max_keep_ckpts=10,
                eval_episodes=0)
    loop.update(train_cfg)
    return dict(runner_type="RLRunner", work_dir=str(work_dir), env=dict(FIRE_ENV, **(env or {})),
                policy=dict(TINY_POLICY, **(policy or {})),
                train_cfg=loop, default_scope="aegis", randomness=dict(seed=0),
                visualizer=dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")]),
                default_hooks=dict(runtime_info=dict(type="RuntimeInfoHook"), logger=dict(type="LoggerHook")),
                log_processor=dict(by_epoch=False), log_level="WARNING",
                experiment_name=f"exact_rl_{uuid.uuid4().hex[:8]}")


def _resume_from(checkpoint, work_dir, **cfg):
    """What ``--resume`` does after a kill that left ``checkpoint`` as the newest one in the work dir."""
    os.makedirs(work_dir)
    shutil.copy(checkpoint, work_dir)
    with open(os.path.join(work_dir, "last_checkpoint"), "w") as handle:
        handle.write(os.path.join(work_dir, os.path.basename(checkpoint)))
    runner = RLRunner.from_cfg(dict(_cfg(work_dir, **cfg), resume=True))
    runner.train()
    return runner


def _differences(a, b):
    """Names of what differs between two final RL checkpoints (weights, optimizer, counters, episode statistics)."""
    a, b = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    diff = [k for k in a["agent"]["policy"] if not torch.equal(a["agent"]["policy"][k], b["agent"]["policy"][k])]
    moments = [(s, k) for s in a["agent"]["optimizer"]["state"] for k in a["agent"]["optimizer"]["state"][s]
               if not torch.equal(a["agent"]["optimizer"]["state"][s][k], b["agent"]["optimizer"]["state"][s][k])]
    diff += [f"optimizer.{s}.{k}" for s, k in moments]
    diff += [k for k in ("num_timesteps", "n_updates") if a["agent"][k] != b["agent"][k]]
    diff += [k for k in ("iter", "episodes_finished", "episode_stats") if a[k] != b[k]]
    return diff


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """64 steps on 2 dummy envs, a checkpoint every 16 (every iteration)."""
    work_dir = tmp_path_factory.mktemp("uninterrupted")
    RLRunner.from_cfg(_cfg(work_dir)).train()
    return work_dir


def test_checkpoints_hold_episodes_in_progress_as_plain_data(uninterrupted):
    saved = torch.load(uninterrupted / "step_32.pth", weights_only=True)
    envs = saved["resume"]["envs"]["envs"]
    assert len(envs) == 2 and set(saved["resume"]["random"]) >= {"torch", "numpy", "python"}
    in_progress = [e for e in envs if e["env"]["episode"]["steps"] > 0 and not e["env"]["needs_reset"]]
    assert in_progress, "no episode was in progress at the checkpoint: the test would not exercise env state"
    assert all(len(e["monitor"]["rewards"]) == e["env"]["episode"]["steps"] for e in in_progress)
    assert isinstance(envs[0]["env"]["np_random"]["state"]["state"], int)  # PCG64's 128-bit state, a plain int


@pytest.mark.parametrize("step", [16, 32])
def test_resume_from_a_checkpoint_ends_bit_identical(uninterrupted, tmp_path, step):
    """A kill at (or after) the step-<step> checkpoint: resuming from it replays the rest exactly."""
    runner = _resume_from(uninterrupted / f"step_{step}.pth", tmp_path / "resumed")
    assert runner.train_loop.agent.algo._num_timesteps_at_start == step
    assert _differences(uninterrupted / "step_64.pth", tmp_path / "resumed" / "step_64.pth") == []


def test_subprocess_envs_resume_exactly_too(uninterrupted, tmp_path):
    """vec_env='subproc' reaches the envs' state through SB3's env_method; same numbers as in-process envs."""
    _resume_from(uninterrupted / "step_32.pth", tmp_path / "resumed", vec_env="subproc")
    assert _differences(uninterrupted / "step_64.pth", tmp_path / "resumed" / "step_64.pth") == []


def test_stacked_dict_observations_resume_exactly(tmp_path):
    """VecFrameStack's buffers and Dict observations ({"image", "state"}) are saved and put back too."""
    cfg = dict(env=dict(state_obs=True), policy=dict(image_key="image"), frame_stack=2)
    RLRunner.from_cfg(_cfg(tmp_path / "uninterrupted", **cfg)).train()
    saved = torch.load(tmp_path / "uninterrupted" / "step_32.pth", weights_only=True)
    assert saved["resume"]["envs"]["stacked_obs"]["image"].shape == (2, 16, 16, 6)
    _resume_from(tmp_path / "uninterrupted" / "step_32.pth", tmp_path / "resumed", **cfg)
    assert _differences(tmp_path / "uninterrupted" / "step_64.pth", tmp_path / "resumed" / "step_64.pth") == []


def test_a_frozen_encoder_with_its_feature_cache_resumes_exactly(tmp_path):
    """The frozen-feature cache starts empty at every rollout, so a resumed run encodes what an uninterrupted one
    does and ends bit-identical (a cache carried across rollouts could differ by rounding: other batches)."""
    from aegis.engine import atomic_save
    from aegis_plugins.encoders.vjepa import VJEPAEncoder

    vit = dict(arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2, num_frames=2,
               img_size=16)
    torch.manual_seed(1)
    atomic_save(VJEPAEncoder(**vit).state_dict(), tmp_path / "encoder.pth")
    encoder = dict(type="VJEPAEncoder", **vit, checkpoint=str(tmp_path / "encoder.pth"), checkpoint_key=None,
                   frozen=True)
    cfg = dict(policy=dict(features_extractor=encoder, encoder_tokens="flatten", token_dim=4, n_epochs=2),
               frame_stack=2)
    RLRunner.from_cfg(_cfg(tmp_path / "uninterrupted", **cfg)).train()
    _resume_from(tmp_path / "uninterrupted" / "step_32.pth", tmp_path / "resumed", **cfg)
    assert _differences(tmp_path / "uninterrupted" / "step_64.pth", tmp_path / "resumed" / "step_64.pth") == []


class _SigtermWhileSaving(Hook):
    """A SIGTERM that arrives inside learn(), while the step-<steps> checkpoint is being written."""

    def __init__(self, steps):
        self.steps = steps

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint["agent"]["num_timesteps"] == self.steps:
            request_stop("SIGTERM")  # what the SIGTERM handler of tools/run.py does


def test_a_stop_during_learn_ends_it_through_on_step_and_resumes_exactly(uninterrupted, tmp_path):
    """The stop flag set inside learn(): the checkpoint callback has saved step_16, its _on_step returns False at
    the next env step (one step of each env runs, unsaved), RunStopped names step_16, and a resume from it ends where
    the uninterrupted run ends, bit for bit."""
    cfg = _cfg(tmp_path / "run")
    runner = RLRunner(**{k: v for k, v in cfg.items() if k != "runner_type"}, custom_hooks=[_SigtermWhileSaving(16)])
    try:
        with pytest.raises(RunStopped, match="Stopped by SIGTERM after 16 env steps") as info:
            runner.train()
    finally:
        clear_stop_request()
    assert info.value.checkpoint == str(tmp_path / "run" / "step_16.pth")
    assert runner.train_loop.agent.num_timesteps == 16 + 2  # learn() ended inside the next rollout, on _on_step
    assert not (tmp_path / "run" / "step_32.pth").exists() and not (tmp_path / "run" / "metrics.json").exists()
    resumed = RLRunner.from_cfg(dict(cfg, resume=True))
    resumed.train()
    assert resumed.train_loop.agent.algo._num_timesteps_at_start == 16 and resumed.train_loop.iter == 4
    assert _differences(uninterrupted / "step_64.pth", tmp_path / "run" / "step_64.pth") == []


def test_without_the_saved_states_the_resume_differs(uninterrupted, tmp_path):
    """The control: the same resume from a checkpoint without its resume state (fresh episodes) ends elsewhere."""
    saved = torch.load(uninterrupted / "step_32.pth", weights_only=True)
    del saved["resume"]
    torch.save(saved, tmp_path / "step_32.pth")
    _resume_from(tmp_path / "step_32.pth", tmp_path / "resumed")
    diff = _differences(uninterrupted / "step_64.pth", tmp_path / "resumed" / "step_64.pth")
    assert any(k.startswith("features_extractor") or k.startswith("action_net") for k in diff), diff


def test_an_env_without_the_state_contract_resumes_with_fresh_episodes(tmp_path):
    """GymnasiumEnv is a wrapper without get_state (the DisasterRescueEnv inside it has one, but TimeLimit's step
    count would be missed): its checkpoints hold no env state and a resume continues with fresh episodes."""
    env = dict(type="GymnasiumEnv", id="aegis/DisasterRescue-v0",
               kwargs={k: v for k, v in FIRE_ENV.items() if k != "type"})
    cfg = _cfg(tmp_path / "wrapped", total_timesteps=32)
    cfg["env"] = env
    RLRunner.from_cfg(cfg).train()
    saved = torch.load(tmp_path / "wrapped" / "step_16.pth", weights_only=True)
    assert saved["resume"]["envs"] is None and saved["resume"]["random"]["torch"].dtype == torch.uint8
    resumed = RLRunner.from_cfg(dict(cfg, resume=True, train_cfg=dict(cfg["train_cfg"], total_timesteps=48)))
    resumed.train()
    assert "GymnasiumEnv' has no get_state()" in resumed.train_loop._resume_note
    assert resumed.train_loop.agent.num_timesteps == 48


def test_a_non_finite_loss_still_stops_before_saving(tmp_path, monkeypatch):
    """RunDiverged at the second update: its checkpoint is never written, the first one stays the newest."""
    from stable_baselines3 import PPO

    from aegis.engine import RunDiverged

    train = PPO.train

    def diverging_train(self):  # SB3's update, whose value loss turns NaN from the second update on
        train(self)
        if self.num_timesteps >= 32:
            self.logger.record("train/value_loss", float("nan"))

    monkeypatch.setattr(PPO, "train", diverging_train)
    runner = RLRunner.from_cfg(_cfg(tmp_path / "run"))
    with pytest.raises(RunDiverged, match="Diverged at RL iteration 2 .*value_loss=nan"):
        runner.train()
    assert sorted(os.listdir(tmp_path / "run")).count("step_16.pth") == 1
    assert not (tmp_path / "run" / "step_32.pth").exists()
    assert (tmp_path / "run" / "last_checkpoint").read_text().endswith("step_16.pth")


def _wait_for_checkpoint(work_dir, process, newer_than=0, timeout=120.0):
    """The step count of the first checkpoint marked in last_checkpoint beyond ``newer_than`` (the process runs on)."""
    marker = os.path.join(work_dir, "last_checkpoint")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(marker):
            steps = int(os.path.basename(open(marker).read().strip())[5:-4])
            if steps > newer_than:
                return steps
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before a checkpoint past {newer_than}:\n"
                                 + process.stdout.read().decode(errors="replace")[-3000:])
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint past {newer_than} steps in {timeout} s")


@pytest.mark.slow  # slow (about 30 s, subprocesses): a stop inside learn() and its exact resume run fast above
def test_sigterm_then_sigkill_through_tools_run_resume_exactly(tmp_path):
    """rl_disaster_ppo.py through tools/run.py, shrunk: SIGTERM after the first checkpoint (exit 3, saved at the end
    of the iteration), --resume, SIGKILL wherever that run is after its next checkpoint, --resume to the end. The
    result equals an uninterrupted run of the same experiment, built in this process the way tools/run.py builds it."""
    from aegis.config import load_experiment
    from aegis.run_setup import apply_run_options, run

    experiment = ROOT / "experiments" / "rl_disaster_ppo.py"
    overrides = {"policy.n_steps": 16, "policy.batch_size": 32, "policy.n_epochs": 1, "train_cfg.n_envs": 2,
                 "train_cfg.total_timesteps": 640, "train_cfg.checkpoint_interval": 64, "train_cfg.max_keep_ckpts": 20,
                 "train_cfg.eval_episodes": 0, "env.max_steps": 8, "log_level": "WARNING"}
    run(apply_run_options(load_experiment(experiment, dict(overrides), str(tmp_path / "uninterrupted"))))

    work_dir = tmp_path / "interrupted"
    command = [sys.executable, str(ROOT / "tools" / "run.py"), str(experiment), "--work-dir", str(work_dir),
               "--cfg-options", *[f"{k}={v}" for k, v in overrides.items()]]
    env = dict(os.environ, OMP_NUM_THREADS="1")

    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_for_checkpoint(work_dir, first)
    first.send_signal(signal.SIGTERM)
    output = first.communicate(timeout=120)[0].decode(errors="replace")
    assert first.returncode == 3, output[-3000:]
    result = json.loads((work_dir / "result.json").read_text())
    assert result["status"] == "stopped" and result["exit_code"] == 3
    stopped_at = int(os.path.basename((work_dir / "last_checkpoint").read_text().strip())[5:-4])
    assert stopped_at < 640

    second = subprocess.Popen(command + ["--resume"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    killed_after = _wait_for_checkpoint(work_dir, second, newer_than=stopped_at)
    second.kill()  # SIGKILL: nothing is saved; the run was somewhere after its step_<killed_after> checkpoint
    second.communicate(timeout=60)
    assert second.returncode == -signal.SIGKILL and killed_after < 640

    third = subprocess.run(command + ["--resume"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert third.returncode == 0, third.stderr.decode(errors="replace")[-3000:]
    assert _differences(tmp_path / "uninterrupted" / "step_640.pth", work_dir / "step_640.pth") == []
