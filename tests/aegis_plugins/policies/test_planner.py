"""LatentCEMPlanner: goal frames, CEM over discrete action sequences, SB3's predict form, load_planner."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from aegis.build import build_component
from aegis.errors import CheckpointError, ConfigError
from aegis.registry import MODELS
from aegis_plugins.envs.disaster import DisasterRescueEnv
from aegis_plugins.envs.disaster_render import FrameRenderer
from aegis_plugins.policies.planner import LatentCEMPlanner, goal_frames, load_planner
from aegis_plugins.policies.rl_eval import run_episodes

TINY_ENV = dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16)
TINY_MODEL = dict(type="ActionConditionedPredictor", frame_stack=2, obs_size=16, width=32, depth=1, num_heads=2,
                  encoder=dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8,
                               tubelet_size=2, num_frames=2, img_size=16, frozen=True))
CORRIDOR = ["######", "#A..V#", "######", "######", "######", "######"]  # one way to the victim: from the west


def _model(seed=0, random_output=True):
    torch.manual_seed(seed)
    model = build_component(dict(TINY_MODEL), MODELS, "model")
    if random_output:  # the untrained output layer is zero (every action copies the latent): give actions an effect
        torch.nn.init.normal_(model.proj_out.weight, std=0.2)
    return model.eval()


def test_goal_frames_are_the_last_frames_of_walking_onto_the_victim():
    env = DisasterRescueEnv("easy", grid_size=6, max_steps=8, obs_size=24)
    renderer = FrameRenderer(24, 6, "global", env.config.view_size)
    obs, _ = env.reset(seed=0, options=dict(layout=CORRIDOR, heading=1))
    goal = goal_frames(obs, renderer, count=2)
    far = goal_frames(obs, renderer, count=5)  # more frames than steps to the victim: the oldest repeats the start
    seen = [obs]
    for _ in range(3):
        obs, _, terminated, _, info = env.step(1)  # east, east, east: onto the victim, arriving facing east
        seen.append(obs)
    assert terminated and info["success"]
    assert goal.shape == (2, 24, 24, 3)
    np.testing.assert_array_equal(goal, np.stack(seen[-2:]))
    np.testing.assert_array_equal(far, np.stack(seen[:1] + seen))
    assert goal_frames(obs, renderer) is None  # rescued: no waiting victim left to make a goal of


def test_cem_finds_the_action_sequence_whose_predicted_latent_is_the_goal():
    model = _model()
    planner = LatentCEMPlanner(model, TINY_ENV, horizon=3, population=64, elites=4, iterations=4, energy="final")
    frames = torch.randint(0, 256, (1, 2, 16, 16, 3), dtype=torch.uint8)
    latent = model.encode(frames)[0]
    for target in ([2, 1, 3], [0, 0, 1], [3, 2, 2]):
        goal = model.rollout(latent[None], torch.tensor([target]))[0, -1]  # (N, D)
        torch.manual_seed(0)
        action, energy = planner.plan(latent, goal)
        assert action == target[0] and energy < 1e-5


def test_predict_takes_stacked_frames_and_times_every_action():
    model = _model()
    planner = LatentCEMPlanner(model, TINY_ENV, horizon=2, population=8, elites=2, iterations=2)
    env = DisasterRescueEnv("easy", grid_size=6, max_steps=8, obs_size=16)
    first, _ = env.reset(seed=1)
    second = env.step(0)[0]
    stacked = np.concatenate([first, second], axis=-1)[None].repeat(2, axis=0)  # (2, H, W, T*C), oldest first
    actions, state = planner.predict(stacked, state="kept")
    assert actions.shape == (2,) and state == "kept" and set(actions.tolist()) <= {0, 1, 2, 3}
    assert len(planner.plan_seconds) == 2 and all(0 < s < 5 for s in planner.plan_seconds)


def test_bad_settings_are_named():
    model = _model()
    with pytest.raises(ConfigError, match="energy='last'"):
        LatentCEMPlanner(model, TINY_ENV, energy="last")
    with pytest.raises(ConfigError, match="elites=9"):
        LatentCEMPlanner(model, TINY_ENV, population=8, elites=9)
    with pytest.raises(ConfigError, match="global"):
        LatentCEMPlanner(model, dict(TINY_ENV, view="egocentric"))


def _write_run(work_dir, model, planner_cfg):
    """A world-model run's work dir as mmengine's CheckpointHook leaves it: the checkpoint (weights + the config
    text in meta.cfg) and the last_checkpoint marker."""
    cfg = Config(dict(model=TINY_MODEL, env=TINY_ENV, planner=planner_cfg))
    path = work_dir / "epoch_1.pth"
    torch.save(dict(meta=dict(cfg=cfg.pretty_text), state_dict=model.state_dict()), path)
    (work_dir / "last_checkpoint").write_text(str(path))


def test_load_planner_rebuilds_model_env_and_settings_from_a_run(tmp_path):
    model = _model(seed=3)
    _write_run(tmp_path, model, dict(horizon=2, population=8, elites=2, iterations=1, energy="sum"))
    planner, env_cfg, frame_stack = load_planner(str(tmp_path))
    assert env_cfg == TINY_ENV and frame_stack == 2
    assert (planner.horizon, planner.population, planner.energy) == (2, 8, "sum")
    for key, value in model.state_dict().items():
        assert torch.equal(planner.model.state_dict()[key], value), key
    results, _ = run_episodes(env_cfg, planner, 2, seed=100_000, frame_stack=frame_stack)
    assert len(results) == 2 and len(planner.plan_seconds) == sum(r["length"] for r in results)


def test_load_planner_refuses_a_checkpoint_without_a_world_model_config(tmp_path):
    torch.save(dict(state_dict={}), tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match="stores no config"):
        load_planner(str(tmp_path / "x.pth"))
