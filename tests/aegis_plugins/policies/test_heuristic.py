"""ScriptedRescuePolicy: the map-knowing upper reference walks shortest safe paths and beats random on every preset."""
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from aegis.errors import ConfigError
from aegis_plugins.envs.disaster import DisasterRescueEnv
from aegis_plugins.envs.disaster_maps import bfs
from aegis_plugins.policies.heuristic import ScriptedRescuePolicy, plan_action
from aegis_plugins.policies.rl_eval import run_episodes, summarize, supported_baselines

# A wall splits the room: the victim is 11 steps away around its end (3 as the crow flies).
DETOUR = ["########",
          "#A.#V..#",
          "#..#...#",
          "#..#...#",
          "#..#...#",
          "#......#",
          "#......#",
          "########"]
# Fire on the straight road: the cheap way passes next to it (7 steps), the safe one keeps a cell away (9 steps).
FIRE_ROAD = ["########",
             "#A.F..V#",
             "#......#",
             "#......#",
             "#......#",
             "#......#",
             "#......#",
             "########"]


def _play(env, layout, heading=0, max_steps=60):
    """Reset ``env`` to ``layout`` and act with plan_action; returns the agent's cells, the actions and the info."""
    env.reset(seed=0, options=dict(layout=layout, heading=heading))
    cells, actions = [tuple(env.get_state()["episode"]["agent"])], []
    for _ in range(max_steps):
        action = plan_action(env.get_state()["episode"], env.config)
        actions.append(action)
        _, _, terminated, truncated, info = env.step(action)
        cells.append(tuple(env.get_state()["episode"]["agent"]))
        if terminated or truncated:
            return cells, actions, info
    raise AssertionError("the episode did not end")


def test_it_takes_the_shortest_path_around_walls():
    env = DisasterRescueEnv("easy", max_steps=40)
    cells, _, info = _play(env, DETOUR)
    walls = np.array([[c == "#" for c in row] for row in DETOUR])
    assert info["success"] and info["path_length"] == bfs(~walls, (1, 1))[1, 4] == 11
    assert info["spl"] == 1.0
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(cells, cells[1:]))  # a move every step


def test_with_habitat_actions_it_turns_toward_the_path_and_never_stops():
    env = DisasterRescueEnv("easy", max_steps=40, action_mode="habitat")
    cells, actions, info = _play(env, DETOUR, heading=2)
    assert info["success"] and info["path_length"] == 11 and info["spl"] == 1.0
    assert 0 not in actions  # never stop: the env ends the episode at the last rescue
    turns = [a for a in actions if a in (2, 3)]
    assert len(actions) == 11 + len(turns) and len(turns) <= 6  # every forward moves; a turn only to face the path
    assert all(a == b or abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(cells, cells[1:]))


def test_it_keeps_a_cell_away_from_fire_when_a_detour_exists():
    env = DisasterRescueEnv("easy", max_steps=40, num_fires=1, p_spread=0.0, burn_time=50)  # burns all along
    cells, _, info = _play(env, FIRE_ROAD)
    near_fire = {(0, 3), (2, 3), (1, 2), (1, 4)}
    assert info["success"] and not info["burned"]
    assert not near_fire & set(cells[1:])
    assert info["path_length"] == 9  # the cheapest safe detour: two rows down, across, back up


def test_it_never_calls_stop_and_predicts_for_every_env_of_a_batch():
    envs = DummyVecEnv([lambda: DisasterRescueEnv("hard"), lambda: DisasterRescueEnv("medium")])
    envs.seed(3)
    observations = envs.reset()
    policy = ScriptedRescuePolicy(envs)
    actions, state = policy.predict(observations)
    assert actions.shape == (2,) and actions.dtype == np.int64 and state is None
    states = envs.env_method("get_state")
    configs = envs.get_attr("config")
    assert actions[0] == plan_action(states[0]["episode"], configs[0]) and actions[0] != 0  # habitat, never stop
    assert actions[1] == plan_action(states[1]["episode"], configs[1])


def test_easy_is_solved_on_fifty_seeded_episodes_with_spl_one():
    summary = summarize(run_episodes(dict(type="DisasterRescueEnv", preset="easy"), "heuristic", 50, seed=100_000)[0])
    assert summary["success_rate"] == 1.0 and summary["spl"] >= 0.99


@pytest.mark.parametrize("preset, frame_stack, at_least", [("medium", 2, 0.7), ("hard", 4, 0.35)])
def test_it_beats_random_by_far_on_the_harder_presets(preset, frame_stack, at_least):
    env = dict(type="DisasterRescueEnv", preset=preset, obs_size=16)
    scripted = summarize(run_episodes(env, "heuristic", 40, seed=100_000, frame_stack=frame_stack)[0])
    random = summarize(run_episodes(env, "random", 40, seed=100_000, frame_stack=frame_stack)[0])
    assert scripted["success_rate"] >= at_least, scripted
    assert scripted["success_rate"] >= random["success_rate"] + 0.3, (scripted, random)
    assert scripted["rescued"] >= random["rescued"] + 0.8


def test_it_goes_first_to_the_victim_fire_is_about_to_reach():
    # the near victim (2 steps) is safe, the far one (5 steps) sits downwind of a fire (about 5 steps away for it):
    # without wind the near one comes first (the shorter walk), with the wind the far one
    layout = ["########",
              "#......#",
              "#V.A...#",
              "#......#",
              "#......#",
              "#....V.#",
              "#....F.#",
              "########"]
    calm = DisasterRescueEnv("easy", num_victims=2, max_steps=40, num_fires=1, p_spread=0.0, burn_time=50)
    windy = DisasterRescueEnv("easy", num_victims=2, max_steps=40, num_fires=1, p_spread=0.1, wind="north",
                              wind_strength=1.0, burn_time=50)
    for env, first in ((calm, (2, 1)), (windy, (5, 5))):
        env.reset(seed=0, options=dict(layout=layout, heading=0))
        state = env.get_state()["episode"]
        to_first = bfs(~state["walls"], first)
        action = plan_action(state, env.config)
        y, x = np.array((2, 3)) + [(-1, 0), (0, 1), (1, 0), (0, -1)][action]
        assert to_first[y, x] == to_first[2, 3] - 1, (env.config.p_spread, action)  # a step toward `first`


def test_envs_without_the_state_it_reads_are_refused_by_name():
    envs = DummyVecEnv([lambda: __import__("gymnasium").make("CartPole-v1")])
    with pytest.raises(ConfigError, match="ScriptedRescuePolicy needs envs with"):
        ScriptedRescuePolicy(envs)
    assert supported_baselines(dict(type="GymnasiumEnv", id="CartPole-v1")) == ("random",)
    assert supported_baselines(dict(type="DisasterRescueEnv", preset="hard")) == ("random", "heuristic")
