"""HabitatNavEnv contract suite: the same tests run against the habitat-sim TEST DOUBLE on every run and, unchanged,
against real habitat-sim where it is installed (skipped otherwise, with the reason; `pytest -rs` prints it).

Real runs use the scene in $AEGIS_HABITAT_SCENE (default: habitat's skokloster-castle test scene under data/).
"""
from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from aegis.build import build_component
from aegis.errors import MissingDependencyError
from aegis.registry import ENVS
from aegis_plugins.envs.habitat_backend import HabitatSimBackend
from aegis_plugins.envs.habitat_nav import HabitatNavEnv

STOP, FORWARD, LEFT, RIGHT = 0, 1, 2, 3
REAL_SCENE = os.environ.get("AEGIS_HABITAT_SCENE", "data/scene_datasets/habitat-test-scenes/skokloster-castle.glb")


def _load_double() -> str:
    """Import tests/aegis_plugins/envs/habitat_sim_double.py as the module `habitat_sim_double`."""
    if "habitat_sim_double" not in sys.modules:
        spec = importlib.util.spec_from_file_location("habitat_sim_double",
                                                      Path(__file__).with_name("habitat_sim_double.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["habitat_sim_double"] = module
        spec.loader.exec_module(module)
    return "habitat_sim_double"


@pytest.fixture(params=["test_double", "real_habitat_sim"])
def sim(request):
    """(sim_module, scene) for the test double, or for real habitat-sim when it and a scene are available."""
    if request.param == "test_double":
        return _load_double(), "double://room"
    if importlib.util.find_spec("habitat_sim") is None:
        pytest.skip("real habitat-sim is not installed (conda install habitat-sim -c conda-forge -c aihabitat-nightly; "
                    "docs/habitat.md); the same suite ran against the test double")
    if not os.path.exists(REAL_SCENE):
        pytest.skip(f"habitat-sim is installed but the scene {REAL_SCENE} is missing; set AEGIS_HABITAT_SCENE or "
                    "download the habitat test scenes (docs/habitat.md)")
    return "habitat_sim", REAL_SCENE


def _env(sim, **kwargs) -> HabitatNavEnv:
    module, scene = sim
    kwargs.setdefault("resolution", (24, 32))
    return HabitatNavEnv(scene=scene, sim_module=module, gpu_device_id=int(os.environ.get("AEGIS_HABITAT_GPU", 0)),
                         **kwargs)


def test_backend_observations_are_rgb_from_rgba_and_metric_depth(sim):
    module, scene = sim
    backend = HabitatSimBackend(scene=scene, resolution=(24, 32), depth=True, sim_module=module)
    try:
        backend.seed(0)
        first = backend.place_agent(backend.random_navigable_point(), yaw=0.3)
        assert first.rgb.shape == (24, 32, 3) and first.rgb.dtype == np.uint8  # [H, W] order, alpha dropped
        assert first.depth.shape == (24, 32) and first.depth.dtype == np.float32 and (first.depth >= 0).all()
        assert abs(first.yaw - 0.3) < 1e-4 and not first.collided
        observations = backend.sim.step("turn_left")
        assert observations[backend.RGB_UUID].shape == (24, 32, 4)  # the simulator gives RGBA
        assert "collided" in observations
    finally:
        backend.close()


def test_default_actions_move_a_quarter_metre_and_turn_ten_degrees(sim):
    module, scene = sim
    backend = HabitatSimBackend(scene=scene, resolution=(16, 16), depth=False, sim_module=module)
    try:
        for seed in range(50):  # find a pose with free space ahead
            backend.seed(seed)
            start = backend.place_agent(backend.random_navigable_point(), yaw=0.0)
            moved = backend.act("move_forward")
            if not moved.collided:
                break
        step = moved.position - start.position
        assert np.hypot(step[0], step[2]) == pytest.approx(0.25, abs=1e-3)
        assert step[2] == pytest.approx(-0.25, abs=1e-3)  # yaw 0 faces -z
        left = backend.act("turn_left")
        assert math.degrees(left.yaw - moved.yaw) == pytest.approx(10.0, abs=1e-3)
        right = backend.act("turn_right")
        assert right.yaw == pytest.approx(moved.yaw, abs=1e-4)
    finally:
        backend.close()


def test_walking_into_a_wall_sets_collided(sim):
    module, scene = sim
    backend = HabitatSimBackend(scene=scene, resolution=(16, 16), depth=False, sim_module=module)
    try:
        backend.seed(3)
        backend.place_agent(backend.random_navigable_point(), yaw=1.0)
        flags = [backend.act("move_forward").collided for _ in range(200)]
        assert any(flags)
    finally:
        backend.close()


def test_geodesic_distance_is_zero_to_itself_and_inf_without_a_path(sim):
    module, scene = sim
    backend = HabitatSimBackend(scene=scene, resolution=(16, 16), depth=False, sim_module=module)
    try:
        backend.seed(1)
        a, b = backend.random_navigable_point(), backend.random_navigable_point()
        assert backend.geodesic_distance(a, a) == pytest.approx(0.0, abs=1e-3)
        d = backend.geodesic_distance(a, b)
        euclid = float(np.linalg.norm(a - b))
        assert math.isinf(d) or d >= euclid - 1e-3  # a path is never shorter than the straight line
        assert math.isinf(backend.geodesic_distance(a, a + np.array([1000.0, 0.0, 1000.0])))
    finally:
        backend.close()


def test_env_passes_the_gymnasium_checker_and_has_the_habitat_spaces(sim):
    env = _env(sim, observations=("rgb", "depth", "pointgoal"), max_steps=8, render_mode="rgb_array")
    try:
        check_env(env)
        sb3_check_env(env, warn=False)
        obs, info = env.reset(seed=0)
        assert obs["rgb"].shape == (24, 32, 3) and obs["depth"].shape == (24, 32, 1)
        assert obs["pointgoal"][0] > 0 and env.action_space.n == 4
        assert math.isfinite(info["distance_to_goal"]) and info["distance_to_goal"] >= env.min_goal_distance
        assert np.array_equal(env.render(), obs["rgb"])
    finally:
        env.close()


def test_reward_is_slack_plus_geodesic_progress(sim):
    env = _env(sim, max_steps=50)
    try:
        _, info = env.reset(seed=2)
        before = info["distance_to_goal"]
        _, reward, terminated, truncated, info = env.step(FORWARD)
        assert not terminated and not truncated and not info["success"]
        assert reward == pytest.approx(-0.01 + before - info["distance_to_goal"], abs=1e-5)
        _, reward, *_ = env.step(LEFT)
        assert reward == pytest.approx(-0.01, abs=1e-5)  # turning in place changes no distance
    finally:
        env.close()


def test_stop_at_the_goal_succeeds_with_spl(sim):
    env = _env(sim)
    try:
        for seed in range(50):  # record a collision-free 3-step walk, then make its end the goal
            _, info = env.reset(seed=seed)
            start, yaw = info["position"], info["yaw"]
            infos = [env.step(FORWARD)[4] for _ in range(3)]
            if not any(i["collided"] for i in infos):
                break
        goal = infos[-1]["position"]
        env.reset(seed=0, options={"start": start, "goal": goal, "yaw": yaw})
        for _ in range(3):
            env.step(FORWARD)
        _, reward, terminated, truncated, info = env.step(STOP)
        assert terminated and not truncated and info["success"] and info["is_success"]
        assert reward == pytest.approx(-0.01 + 2.5, abs=1e-4)
        assert info["spl"] == pytest.approx(1.0, abs=0.02) and info["path_length"] == pytest.approx(0.75, abs=0.01)
        env.reset(seed=0, options={"start": start, "goal": goal, "yaw": yaw})
        _, _, terminated, _, info = env.step(STOP)
        assert terminated and not info["success"] and info["spl"] == 0.0  # stopping 0.75 m away fails
    finally:
        env.close()


def test_one_rgb_frame_per_step_and_determinism(sim):
    a, b = _env(sim), _env(sim)
    try:
        oa, _ = a.reset(seed=5)
        ob, _ = b.reset(seed=5)
        assert oa.shape == (24, 32, 3) and np.array_equal(oa, ob)  # VecFrameStack stacks frames, not the env
        for action in (LEFT, FORWARD, RIGHT):
            oa2, ra, *_ = a.step(action)
            ob2, rb, *_ = b.step(action)
            assert np.array_equal(oa2, ob2) and ra == rb
            assert np.array_equal(oa2, a.backend.sim.get_sensor_observations()["rgb"][..., :3])  # the newest frame
    finally:
        a.close()
        b.close()


def test_unreachable_island_is_never_an_episode():
    """Double only: the sealed closet of double://room is navigable but has no path from the rest of the room."""
    env = _env((_load_double(), "double://room"), max_steps=8)
    closet, outside = np.array([7.0, 0.0, 7.0]), np.array([1.0, 0.0, 1.0])
    assert env.backend.sim.pathfinder.is_navigable(closet)
    assert math.isinf(env.backend.geodesic_distance(outside, closet))
    for seed in range(20):
        _, info = env.reset(seed=seed)
        assert math.isfinite(info["distance_to_goal"])


def test_built_from_the_registry():
    env = build_component(dict(type="HabitatNavEnv", scene="double://room", sim_module=_load_double(),
                               resolution=(16, 16), max_steps=4), ENVS, "env")
    assert env.observation_space.shape == (16, 16, 3)
    env.close()


def test_missing_habitat_sim_says_how_to_install_it():
    if importlib.util.find_spec("habitat_sim") is not None:
        pytest.skip("habitat-sim is installed here")
    with pytest.raises(MissingDependencyError, match=r"(?s)conda install habitat-sim.*docs/habitat.md"):
        HabitatNavEnv()


def test_importing_the_plugin_does_not_import_habitat_sim():
    code = "import sys, aegis_plugins.envs.habitat_nav; print('habitat_sim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_goal_alone_gets_a_sampled_start_with_a_path_to_it(sim):
    env = _env(sim, max_steps=8)
    try:
        _, info = env.reset(seed=0)
        goal = info["position"]
        for seed in range(1, 4):
            _, info = env.reset(seed=seed, options={"goal": goal})
            assert np.allclose(info["goal"], goal)
            assert env.min_goal_distance <= info["distance_to_goal"] <= env.max_goal_distance
    finally:
        env.close()


def test_renderer_failure_and_missing_navmesh_are_explained():
    """Double only: a GPU id with no EGL device, and a scene without a navmesh."""
    from aegis.errors import ConfigError

    module = _load_double()
    with pytest.raises(MissingDependencyError, match="gpu_device_id=3.*EGL"):
        HabitatNavEnv(scene="double://room", sim_module=module, gpu_device_id=3)
    with pytest.raises(ConfigError, match="has no navmesh"):
        HabitatNavEnv(scene="double://no_navmesh", sim_module=module)
