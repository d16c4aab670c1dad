"""DisasterRescueEnv: API checks, determinism, hazards, rewards, views and registration."""
from __future__ import annotations

import subprocess
import sys
from collections import deque

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import ENVS
from aegis_plugins.envs.disaster import PRESETS, DisasterRescueEnv, frames_to_clip

NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3
STOP, FORWARD, LEFT, RIGHT = 0, 1, 2, 3


def _reachable(walls: np.ndarray, start) -> np.ndarray:
    seen = np.zeros_like(walls)
    seen[start] = True
    queue = deque([start])
    while queue:
        y, x = queue.popleft()
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (y + dy, x + dx)
            if not walls[n] and not seen[n]:
                seen[n] = True
                queue.append(n)
    return seen


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("extra", [{}, dict(state_obs=True), dict(frame_stack=3)])
def test_passes_gymnasium_and_sb3_checkers(preset, extra):
    env = DisasterRescueEnv(preset=preset, render_mode="rgb_array", **extra)
    check_env(env)
    sb3_check_env(DisasterRescueEnv(preset=preset, **extra), warn=False)
    obs, _ = env.reset(seed=3)
    image = obs["image"] if extra.get("state_obs") else obs
    assert image.shape == (64, 64, 3 * extra.get("frame_stack", 1)) and image.dtype == np.uint8


def _rollout(env, seed, n=60):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    trace = [obs.copy()]
    for _ in range(n):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
        trace += [obs.copy(), reward, info["rescued"], info["lost"]]
        if terminated or truncated:
            obs, _ = env.reset()
            trace.append(obs.copy())
    return trace


def test_deterministic_under_seed():
    a = _rollout(DisasterRescueEnv(preset="hard"), seed=7)
    b = _rollout(DisasterRescueEnv(preset="hard"), seed=7)
    c = _rollout(DisasterRescueEnv(preset="hard"), seed=8)
    same = all(np.array_equal(x, y) for x, y in zip(a, b))
    assert same and len(a) == len(b)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("preset", ["medium", "hard"])
def test_every_victim_reachable_at_start(preset):
    env = DisasterRescueEnv(preset=preset, wall_density=0.35)
    for seed in range(30):
        env.reset(seed=seed)
        reach = _reachable(env._walls, tuple(env._agent))
        assert all(reach[tuple(v)] for v in env._victims)
        assert env._walls[0].all() and env._walls[:, -1].all()


def test_rescue_reward_success_and_spl_on_a_shortest_path():
    env = DisasterRescueEnv(preset="easy", grid_size=6, step_cost=0.01, shaping=0.0)
    layout = ["######",
              "#A...#",
              "#....#",
              "#..V.#",
              "#....#",
              "######"]
    env.reset(seed=0, options={"layout": layout})
    _, r1, term, _, info = env.step(SOUTH)
    assert r1 == pytest.approx(-0.01) and not term and info["rescued"] == 0
    env.step(SOUTH)
    env.step(EAST)
    _, r4, term, _, info = env.step(EAST)
    assert term and info["success"] and info["is_success"] and info["rescued"] == 1
    assert r4 == pytest.approx(1.0 - 0.01)
    assert info["spl"] == pytest.approx(1.0) and info["optimal_length"] == 4


def test_spl_penalises_detours_and_walls_collide():
    env = DisasterRescueEnv(preset="easy", grid_size=6, shaping=0.0)
    layout = ["######",
              "#A.V.#",
              "#....#",
              "#....#",
              "#....#",
              "######"]
    env.reset(seed=0, options={"layout": layout})
    _, _, _, _, info = env.step(NORTH)
    assert info["collided"] and info["path_length"] == 0
    for a in (SOUTH, EAST, EAST, NORTH):
        _, _, term, _, info = env.step(a)
    assert term and info["success"] and info["spl"] == pytest.approx(2 / 4)


def test_distance_shaping_rewards_progress():
    env = DisasterRescueEnv(preset="easy", grid_size=6, step_cost=0.0, shaping=0.1)
    layout = ["######", "#A...#", "#....#", "#...V#", "#....#", "######"]
    env.reset(seed=0, options={"layout": layout})
    assert env.step(EAST)[1] == pytest.approx(0.1)
    assert env.step(WEST)[1] == pytest.approx(-0.1)


def test_entering_fire_ends_the_episode_with_a_penalty():
    env = DisasterRescueEnv(preset="medium", grid_size=6, num_victims=1, p_spread=0.0, step_cost=0.01,
                            shaping=0.0, fire_penalty=1.0)
    layout = ["######", "#AF..#", "#....#", "#...V#", "#....#", "######"]
    env.reset(seed=0, options={"layout": layout})
    _, reward, terminated, truncated, info = env.step(EAST)
    assert terminated and not truncated and info["burned"] and not info["success"]
    assert reward == pytest.approx(-1.01)


def test_fire_spreads_burns_out_to_ash_and_kills_victims():
    env = DisasterRescueEnv(preset="medium", grid_size=8, num_victims=1, p_spread=1.0, wind="none", burn_time=2,
                            shaping=0.0, loss_penalty=0.5, step_cost=0.0)
    layout = ["########",
              "#A.....#",
              "#......#",
              "#......#",
              "#.....V#",
              "#......#",
              "#....F.#",
              "########"]
    env.reset(seed=0, options={"layout": layout})
    env.step(WEST)  # bump into the wall; the fire at (6,5) spreads to its 3 free neighbours
    assert (env._fire_t > 0).sum() == 4 and env._fire_t[6, 5] == 1 and not env._ash.any()
    _, r, _, _, info = env.step(WEST)  # the source burns out to ash, the fire front moves on
    assert env._ash[6, 5] and env._fire_t[6, 5] == 0 and info["lost"] == 0 and r == 0.0
    _, r, terminated, _, info = env.step(WEST)  # the victim at (4,6) catches fire
    assert info["lost"] == 1 and r == pytest.approx(-0.5)
    assert terminated and not info["success"]


def test_wind_biases_spread_direction():
    env = DisasterRescueEnv(preset="medium", grid_size=12, num_victims=1, p_spread=0.6, wind="east",
                            wind_strength=1.0, burn_time=3, num_flood_sources=0)
    layout = ["#" * 12] + ["#A" + "." * 9 + "#"] + ["#" + "." * 10 + "#"] * 3 + ["#....F.....#"] + \
        ["#" + "." * 10 + "#"] * 4 + ["#V.........#", "#" * 12]
    env.reset(seed=1, options={"layout": layout})
    for _ in range(12):
        env.step(WEST)
    touched = np.argwhere((env._fire_t > 0) | env._ash)
    assert touched[:, 1].min() == 5  # never spread against the wind (west)
    assert touched[:, 1].max() > 7  # but it did spread downwind


def test_flood_rises_slows_the_agent_and_drowns_victims():
    env = DisasterRescueEnv(preset="medium", grid_size=6, num_victims=1, flood_period=1, max_depth=3, deep_depth=2,
                            victim_health=2, loss_penalty=0.5, shaping=0.0, step_cost=0.0)
    layout = ["######", "#S.A.#", "#V...#", "#....#", "#....#", "######"]
    env.reset(seed=0, options={"layout": layout})
    env.step(NORTH)  # depth at the source 1, neighbours 0
    assert env._depth[1, 1] == 1 and env._depth[2, 1] == 0
    env.step(NORTH)  # source 2, neighbours 1
    assert env._depth[1, 1] == 2 and env._depth[2, 1] == 1 and env._depth[1, 2] == 1
    env.step(NORTH)  # source 3; the victim's cell (2,1) is deep now and starts losing health
    assert env._depth[2, 1] == 2 and env._health[0] == 1
    _, r, terminated, _, info = env.step(NORTH)
    assert info["lost"] == 1 and r == pytest.approx(-0.5) and terminated


def test_deep_water_halves_the_agent_speed():
    env = DisasterRescueEnv(preset="medium", grid_size=6, num_victims=1, num_fires=0, flood_period=1000,
                            deep_depth=1)
    layout = ["######", "#A...#", "#....#", "#....#", "#...V#", "######"]
    env.reset(seed=0, options={"layout": layout})
    env._depth[1, 1:5] = 1
    env.step(EAST)
    assert tuple(env._agent) == (1, 1)  # wading
    env.step(EAST)
    assert tuple(env._agent) == (1, 2)


def test_habitat_actions_turn_move_and_stop():
    env = DisasterRescueEnv(preset="hard", grid_size=6, num_victims=1, num_fires=0, num_flood_sources=0)
    layout = ["######", "#A...#", "#....#", "#....#", "#...V#", "######"]
    env.reset(seed=0, options={"layout": layout, "heading": EAST})
    env.step(FORWARD)
    assert tuple(env._agent) == (1, 2)
    env.step(RIGHT)
    env.step(FORWARD)
    assert tuple(env._agent) == (2, 2) and env._heading == SOUTH
    env.step(LEFT)
    assert env._heading == EAST
    _, _, terminated, truncated, info = env.step(STOP)
    assert terminated and not truncated and not info["success"]


def test_egocentric_view_turns_with_the_agent():
    env = DisasterRescueEnv(preset="hard", view_size=7, obs_size=63, grid_size=10)
    env.reset(seed=4)
    before = env.step(RIGHT)[0]
    after = env.step(LEFT)[0]
    centre = np.zeros((63, 63), dtype=bool)
    centre[27:36, 27:36] = True  # the agent's own cell (its nose is redrawn facing up)
    turned = np.rot90(before, k=-1)
    # The hazards may change between steps, so compare walls (grey) only.
    wall = np.array([150, 150, 150], dtype=np.uint8)
    assert np.array_equal((turned == wall).all(-1) & ~centre, (after == wall).all(-1) & ~centre)
    assert (after[31, 31] == 255).all()  # the agent is always at the centre


def test_frame_stack_forms_a_clip():
    env = DisasterRescueEnv(preset="medium", frame_stack=4)
    obs0, _ = env.reset(seed=0)
    assert all(np.array_equal(obs0[..., :3], obs0[..., 3 * t:3 * t + 3]) for t in range(4))
    frames = [obs0[..., -3:]]
    for a in (EAST, SOUTH, WEST):
        obs, *_ = env.step(a)
        frames.append(obs[..., -3:])
    assert np.array_equal(obs[..., :3], frames[0]) and np.array_equal(obs[..., 9:], frames[3])
    clip = frames_to_clip(obs[None], 4)
    assert clip.shape == (1, 3, 4, 64, 64)
    assert np.array_equal(clip[0, :, 1], frames[1].transpose(2, 0, 1))


def test_state_vector_points_at_the_nearest_victim():
    env = DisasterRescueEnv(preset="easy", grid_size=6, state_obs=True)
    layout = ["######", "#A...#", "#....#", "#...V#", "#....#", "######"]
    obs, _ = env.reset(seed=0, options={"layout": layout, "heading": NORTH})
    state = obs["state"]
    assert state.dtype == np.float32 and env.observation_space["state"].contains(state)
    assert state[2] == 1.0 and state[6] == pytest.approx(2 / 5) and state[7] == pytest.approx(3 / 5)


def test_render_is_the_global_top_down_frame():
    env = DisasterRescueEnv(preset="easy", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and np.array_equal(frame, obs)
    assert (frame == 255).all(-1).any()  # the agent is drawn


def test_bad_arguments_raise_config_errors():
    with pytest.raises(ConfigError, match="Did you mean 'medium'"):
        DisasterRescueEnv(preset="meduim")
    with pytest.raises(ConfigError, match="view='top'.*'global' or 'egocentric'"):
        DisasterRescueEnv(view="top")
    with pytest.raises(ConfigError, match="do not fit"):
        DisasterRescueEnv(grid_size=5, num_victims=4)
    env = DisasterRescueEnv(grid_size=6)
    with pytest.raises(ConfigError, match="6 strings of 6"):
        env.reset(options={"layout": ["####"]})


def test_built_from_the_registry_and_gymnasium_make():
    env = build_component(dict(type="DisasterRescueEnv", preset="hard", max_steps=9), ENVS, "env")
    assert env.max_steps == 9 and env.action_mode == "habitat"
    made = gymnasium.make("aegis/DisasterRescue-v0", preset="medium")
    assert made.unwrapped.preset == "medium" and made.reset(seed=0)[0].shape == (64, 64, 3)


def test_module_prefixed_gymnasium_id_works_in_a_fresh_process():
    code = ("import gymnasium; e = gymnasium.make('aegis_plugins.envs:aegis/DisasterRescue-v0', preset='hard'); "
            "print(e.reset(seed=0)[0].shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(64, 64, 3)"
