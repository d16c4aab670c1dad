"""RLRunner + RLTrainLoop: PPO trained through the Runner, with logging, checkpoints, resume and a dry run."""
import glob
import json
import os

import numpy as np
import pytest
import torch

from aegis.errors import CheckpointError, ConfigError
from aegis_plugins.policies.rl_runner import RLRunner


def _scalar_tags(work_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = glob.glob(os.path.join(work_dir, "*", "vis_data", "events.out.tfevents.*"))
    assert events, f"no TensorBoard event file under {work_dir}"
    accumulator = EventAccumulator(events[0])
    accumulator.Reload()
    return accumulator


def test_training_logs_checkpoints_and_reports_against_random(tiny_rl_cfg, tmp_path):
    cfg = tiny_rl_cfg(tensorboard=True, eval_episodes=3, total_timesteps=48)
    runner = RLRunner.from_cfg(cfg)
    runner.train()
    work_dir = cfg["work_dir"]
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(work_dir, "step_*.pth"))) == [
        "step_16.pth", "step_32.pth", "step_48.pth"]
    checkpoint = torch.load(os.path.join(work_dir, "step_48.pth"), weights_only=True)
    assert checkpoint["agent"]["num_timesteps"] == 48 and checkpoint["iter"] == 3
    assert open(os.path.join(work_dir, "last_checkpoint")).read().endswith("step_48.pth")

    metrics = json.load(open(os.path.join(work_dir, "metrics.json")))
    assert metrics["total_timesteps"] == 48 and metrics["iters"] == 3
    for key in ("success_rate", "mean_return", "rescued", "spl"):
        assert 0 <= metrics[f"eval/random_{key}"] + 1 and f"eval/{key}" in metrics
    assert metrics["eval/episodes"] == 3
    assert os.path.getsize(os.path.join(work_dir, "episode.mp4")) > 0

    tags = _scalar_tags(work_dir).Tags()["scalars"]
    for tag in ("train/ep_return", "train/success_rate", "train/rescued", "train/spl", "train/value_loss",
                "train/policy_gradient_loss", "train/entropy_loss", "eval/success_rate", "eval/random_success_rate"):
        assert tag in tags, tag
    steps = [e.step for e in _scalar_tags(work_dir).Scalars("train/value_loss")]
    assert steps == [16, 32, 48]  # logged against env steps


def test_resume_continues_from_the_last_checkpoint_with_the_step_count(tiny_rl_cfg, tmp_path):
    first = RLRunner.from_cfg(tiny_rl_cfg(total_timesteps=16))
    first.train()
    saved = torch.load(os.path.join(first.work_dir, "step_16.pth"), weights_only=True)

    second = RLRunner.from_cfg(dict(tiny_rl_cfg(total_timesteps=32), resume=True))
    loop = second.train_loop
    loop.build()
    second.load_or_resume()
    weights = loop.agent.module.state_dict()
    for key, value in saved["agent"]["policy"].items():
        assert torch.equal(weights[key], value), key
    assert loop.agent.num_timesteps == 16 and loop.iter == 1
    second.train()
    assert loop.agent.algo._num_timesteps_at_start == 16  # continued, not restarted
    assert loop.agent.num_timesteps == 32 and loop.iter == 2
    assert torch.load(os.path.join(second.work_dir, "step_32.pth"), weights_only=True)["iter"] == 2


def test_resume_skips_a_corrupt_newest_checkpoint(tiny_rl_cfg):
    first = RLRunner.from_cfg(tiny_rl_cfg(total_timesteps=16))
    first.train()
    with open(os.path.join(first.work_dir, "step_32.pth"), "wb") as handle:
        handle.write(b"truncated")
    with open(os.path.join(first.work_dir, "last_checkpoint"), "w") as handle:
        handle.write(os.path.join(first.work_dir, "step_32.pth"))
    second = RLRunner.from_cfg(dict(tiny_rl_cfg(total_timesteps=32), resume=True))
    second.train_loop.build()
    second.load_or_resume()
    assert second.train_loop.agent.num_timesteps == 16


def test_resume_from_a_bad_explicit_file_names_it(tiny_rl_cfg, tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    runner = RLRunner.from_cfg(dict(tiny_rl_cfg(), resume=True, load_from=str(bad)))
    runner.train_loop.build()
    with pytest.raises(CheckpointError, match="bad.pth"):
        runner.load_or_resume()


@pytest.mark.parametrize("vec_env", ["dummy", "subproc"])
def test_dry_run_does_one_rollout_and_update(tiny_rl_cfg, vec_env):
    runner = RLRunner.from_cfg(tiny_rl_cfg(vec_env=vec_env))
    losses = runner.train_loop.dry_run()
    assert np.isfinite(losses["train/loss"]) and losses["train/n_updates"] == 1
    assert runner.train_loop.agent.num_timesteps == 8  # 4 steps on each of 2 envs
    assert os.path.isfile(os.path.join(runner.work_dir, "dry_run.pth"))
    assert not os.path.exists(os.path.join(runner.work_dir, "last_checkpoint"))  # --resume never picks a dry run


def test_seeded_runs_are_identical(tiny_rl_cfg, tmp_path):
    finals = []
    for name in ("a", "b"):
        runner = RLRunner.from_cfg(tiny_rl_cfg(work_dir=tmp_path / name))
        runner.train()
        finals.append(torch.load(tmp_path / name / "step_32.pth", weights_only=True)["agent"]["policy"])
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_supervised_keys_are_refused(tiny_rl_cfg):
    with pytest.raises(ConfigError, match="does not use optim_wrapper"):
        RLRunner.from_cfg(dict(tiny_rl_cfg(), optim_wrapper=dict(optimizer=dict(type="Adam"))))
    cfg = tiny_rl_cfg()
    del cfg["policy"]
    with pytest.raises(ConfigError, match="needs top-level policy"):
        RLRunner.from_cfg(cfg)


def test_loop_arguments_are_checked_when_the_loop_is_built(tiny_rl_cfg):
    with pytest.raises(ConfigError, match="train_cfg.vec_env='threads'"):
        RLRunner.from_cfg(tiny_rl_cfg(vec_env="threads")).train_loop
    with pytest.raises(ConfigError, match="n_envs=0"):
        RLRunner.from_cfg(tiny_rl_cfg(n_envs=0)).train_loop


def test_an_env_failing_in_a_subprocess_reports_its_own_error():
    from aegis.errors import MissingDependencyError
    from aegis_plugins.policies.vec_env import build_vec_env

    env = dict(type="HabitatNavEnv", sim_module="aegis_test_no_such_simulator")
    with pytest.raises(MissingDependencyError, match="aegis_test_no_such_simulator"):
        build_vec_env(env, n_envs=2, seed=0, vec_env="subproc")


def test_habitat_dry_run_explains_what_is_missing(tmp_path):
    import importlib.util
    from pathlib import Path

    from aegis.config import load_experiment
    from aegis.errors import AegisError
    from aegis.run_setup import build_runner

    if importlib.util.find_spec("habitat_sim") is not None:
        pytest.skip("habitat-sim is installed here; the dry run would need the scene instead")
    experiment = Path(__file__).resolve().parents[3] / "experiments" / "rl_habitat_pointnav_ppo.py"
    runner = build_runner(load_experiment(experiment, work_dir=str(tmp_path)))
    with pytest.raises(AegisError, match="(?s)habitat-sim is not installed.*conda install habitat-sim"):
        runner.dry_run()


def test_the_experiment_trains_and_resumes_through_tools_run_options(tmp_path):
    """rl_disaster_ppo.py as tools/run.py runs it (load_experiment, run options, run), shrunk by overrides."""
    from pathlib import Path

    from aegis.config import load_experiment
    from aegis.engine import read_metrics_json
    from aegis.run_setup import apply_run_options, run

    experiment = Path(__file__).resolve().parents[3] / "experiments" / "rl_disaster_ppo.py"
    overrides = {"policy.n_steps": 32, "policy.batch_size": 64, "train_cfg.n_envs": 2, "train_cfg.eval_episodes": 2,
                 "train_cfg.checkpoint_interval": 64, "env.max_steps": 8, "log_level": "WARNING"}
    first = run(apply_run_options(load_experiment(experiment, dict(overrides, **{"train_cfg.total_timesteps": 128}),
                                                  str(tmp_path))))
    assert first.train_loop.agent.num_timesteps == 128
    resumed = run(apply_run_options(load_experiment(experiment, dict(overrides, **{"train_cfg.total_timesteps": 192}),
                                                    str(tmp_path)), resume="auto"))
    assert resumed.train_loop.agent.algo._num_timesteps_at_start == 128
    assert resumed.train_loop.iter == 3
    metrics = read_metrics_json(tmp_path)
    assert metrics["total_timesteps"] == 192 and "eval/random_success_rate" in metrics


def test_vjepa_experiment_loads_the_frozen_encoder_from_the_phase1_work_dir(tmp_path):
    """rl_disaster_vjepa_ppo.py points at a phase-1 work dir; its last_checkpoint names the file the encoder loads."""
    from pathlib import Path

    from aegis.config import load_experiment
    from aegis.engine import atomic_save
    from aegis.run_setup import build_runner
    from aegis_plugins.encoders.vjepa import VJEPAEncoder
    from aegis.engine.checkpoint import file_sha256

    phase1 = tmp_path / "vjepa_pretrain_tiny"
    phase1.mkdir()
    torch.manual_seed(0)
    encoder = VJEPAEncoder(arch=None, embed_dim=128, depth=4, num_heads=4, patch_size=8, tubelet_size=2,
                           num_frames=8, img_size=32)
    state = {f"target_encoder.{k}": v for k, v in encoder.state_dict().items()}
    atomic_save(dict(state_dict=state, meta=dict(epoch=2)), phase1 / "epoch_2.pth")
    (phase1 / "last_checkpoint").write_text(str(phase1 / "epoch_2.pth"))

    experiment = Path(__file__).resolve().parents[3] / "experiments" / "rl_disaster_vjepa_ppo.py"
    cfg = load_experiment(experiment, {"policy.features_extractor.checkpoint": str(phase1),
                                       "train_cfg.eval_references": None},  # the pixel-CNN control is not built here
                          str(tmp_path / "rl"))
    runner = build_runner(cfg)
    runner.train_loop.dry_run()
    extractor = runner.train_loop.agent.module.features_extractor
    assert extractor.frozen and extractor.encoder_checkpoint == str(phase1 / "epoch_2.pth")
    assert torch.equal(extractor.encoder.blocks[0].attn.qkv.weight, encoder.blocks[0].attn.qkv.weight)
    saved = torch.load(tmp_path / "rl" / "dry_run.pth", weights_only=True)
    assert saved["agent"]["frozen_encoder"]["sha256"] == file_sha256(phase1 / "epoch_2.pth")
    assert saved["build"]["policy"]["features_extractor"]["checkpoint"] == str(phase1 / "epoch_2.pth")


def test_an_encoder_folder_without_a_marker_is_a_config_error(tmp_path, tiny_policy, tiny_env):
    from aegis_plugins.policies.agent_io import build_agent
    from aegis_plugins.policies.vec_env import build_vec_env

    cfg = dict(tiny_policy, features_extractor=dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1,
                                                    num_heads=2, patch_size=8, tubelet_size=1,
                                                    checkpoint=str(tmp_path), frozen=True))
    with pytest.raises(CheckpointError, match="is a folder without a last_checkpoint marker"):
        build_agent(cfg, build_vec_env(tiny_env, 2, 0), seed=0)


def test_load_from_without_resume_starts_at_step_zero_from_those_weights(tiny_rl_cfg, tmp_path):
    first = RLRunner.from_cfg(tiny_rl_cfg(work_dir=tmp_path / "a"))
    first.train()
    saved = torch.load(tmp_path / "a" / "step_32.pth", weights_only=True)["agent"]["policy"]
    second = RLRunner.from_cfg(dict(tiny_rl_cfg(work_dir=tmp_path / "b"), load_from=str(tmp_path / "a" / "step_32.pth")))
    loop = second.train_loop
    loop.build()
    second.load_or_resume()
    assert loop.agent.num_timesteps == 0 and loop.iter == 0
    weights = loop.agent.module.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in saved.items())


def test_a_stop_request_saves_after_the_rollout_and_resume_finishes_the_run(tiny_rl_cfg):
    from aegis.engine import RunStopped, request_stop
    from aegis.engine.stop import clear_stop_request

    runner = RLRunner.from_cfg(tiny_rl_cfg(total_timesteps=48))
    request_stop("SIGTERM")  # what the SIGTERM handler of tools/run.py does
    try:
        with pytest.raises(RunStopped, match="Stopped by SIGTERM after 16 env steps") as info:
            runner.train()
    finally:
        clear_stop_request()
    assert info.value.checkpoint.endswith("step_16.pth") and os.path.isfile(info.value.checkpoint)
    assert open(os.path.join(runner.work_dir, "last_checkpoint")).read() == info.value.checkpoint
    resumed = RLRunner.from_cfg(dict(tiny_rl_cfg(total_timesteps=48), resume=True))
    resumed.train()
    assert resumed.train_loop.agent.algo._num_timesteps_at_start == 16
    assert resumed.train_loop.agent.num_timesteps == 48
