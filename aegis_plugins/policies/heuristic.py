"""A scripted rescuer that knows the map: the upper reference the trained agents of DisasterRescueEnv are measured
against (next to a uniformly random policy, the lower one).

It does not look at the pixels. At every step it reads the env's public ``get_state()`` (walls, agent, heading,
victims and their status, burning cells, water depth) and plans on the grid:

1. Every cell gets an entry cost: 1, plus ``risk_cost`` when fire may spread into it next step (a free, unburnt,
   dry 4-neighbour of a burning cell), plus ``deep_water_cost`` when its water is deep (leaving it takes two steps
   and it is where the flood drowns). Burning cells cannot be entered (the episode would end).
2. Dijkstra gives the cheapest paths from the agent and from every waiting victim; the victim visited first is the
   first of the cheapest order through all waiting victims (every order up to 6 victims, nearest-next beyond).
3. The agent takes the first step of the cheapest path to that victim; with ``action_mode="habitat"`` it turns
   toward it (the shorter way) and then moves forward. It never calls ``stop``: the env ends the episode when every
   victim is rescued or lost. With no waiting victim reachable it stays where it is (a step into a wall, or a turn),
   unless fire may reach it there, then it steps to the safest neighbour.

The plan is recomputed every step, so it follows the fire and the water as they move.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from aegis.errors import ConfigError

__all__ = ["ScriptedRescuePolicy", "plan_action"]

_DIRS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # north, east, south, west: the env's headings and absolute moves
_FORWARD, _LEFT, _RIGHT = 1, 2, 3  # Habitat actions (0 is stop, never used)
_STATE_KEYS = ("walls", "agent", "heading", "victims", "status", "fire_t", "ash", "depth")
_INF = float("inf")


class ScriptedRescuePolicy:
    """The map-knowing rescuer (module docstring) in SB3's ``predict`` form, so that ``evaluate_policy`` and
    :func:`~.rl_eval.run_episodes` play it like any agent on the same seeded episodes.

    ``envs`` is the VecEnv it acts in (the one whose observations ``predict`` receives; a VecFrameStack or Monitor
    around it is fine): ``predict`` ignores the observation and reads each env's state through
    ``envs.env_method("get_state")`` and its knobs through ``envs.get_attr("config")`` (a DisasterRescueEnv
    ``DisasterConfig``: ``action_mode``, ``deep_depth``). Returns actions (B,) int64 for the B envs. Deterministic.
    """

    def __init__(self, envs, risk_cost: float = 20.0, deep_water_cost: float = 2.0) -> None:
        configs = _env_attr(envs, "config")
        states = _env_call(envs, "get_state")
        for state in states:
            missing = [k for k in _STATE_KEYS if state.get("episode") and k not in state["episode"]]
            if missing:
                raise ConfigError(f"ScriptedRescuePolicy: the env's get_state() lacks {missing}; it plays "
                                  "DisasterRescueEnv-style envs (get_state()['episode'] with "
                                  f"{', '.join(_STATE_KEYS)}).")
        self.envs = envs
        self.habitat = [c.action_mode == "habitat" for c in configs]
        self.deep_depth = [int(c.deep_depth) for c in configs]
        self.risk_cost, self.deep_water_cost = float(risk_cost), float(deep_water_cost)

    def predict(self, observation: Any = None, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """Actions (B,) from the envs' current states (the observation is not read); ``state`` passes through."""
        actions = [plan_action(s["episode"], self.habitat[i], self.deep_depth[i], self.risk_cost,
                               self.deep_water_cost) for i, s in enumerate(_env_call(self.envs, "get_state"))]
        return np.asarray(actions, dtype=np.int64), state


def _env_call(envs, method: str) -> list:
    try:
        return envs.env_method(method)
    except AttributeError as exc:
        raise ConfigError(f"ScriptedRescuePolicy needs envs with {method}() (DisasterRescueEnv has it): "
                          f"{exc}") from exc


def _env_attr(envs, name: str) -> list:
    try:
        return envs.get_attr(name)
    except AttributeError as exc:
        raise ConfigError(f"ScriptedRescuePolicy needs envs with a {name!r} attribute (DisasterRescueEnv's "
                          f"DisasterConfig): {exc}") from exc


def _entry_costs(episode: dict, deep_depth: int, risk_cost: float, deep_water_cost: float) -> np.ndarray:
    """Cost (G, G) of stepping into each cell; inf for walls and burning cells."""
    walls = np.asarray(episode["walls"], dtype=bool)
    burning = np.asarray(episode["fire_t"]) > 0
    depth = np.asarray(episode["depth"])
    ash = np.asarray(episode["ash"], dtype=bool)
    near_fire = np.zeros_like(burning)
    near_fire[1:, :] |= burning[:-1, :]
    near_fire[:-1, :] |= burning[1:, :]
    near_fire[:, 1:] |= burning[:, :-1]
    near_fire[:, :-1] |= burning[:, 1:]
    may_ignite = near_fire & ~burning & ~walls & ~ash & (depth == 0)  # what the env's fire spread can reach
    cost = 1.0 + risk_cost * may_ignite + deep_water_cost * (depth >= deep_depth)
    cost[walls | burning] = _INF
    return cost


def _dijkstra(cost: np.ndarray, start: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest path costs (G, G) from ``start`` (entering a cell costs ``cost`` there) and each cell's first move
    (G, G) int: the direction index of the first step of its cheapest path (-1 for the start and unreached)."""
    g_h, g_w = cost.shape
    flat = cost.ravel().tolist()
    dist = [_INF] * (g_h * g_w)
    first = [-1] * (g_h * g_w)
    s = start[0] * g_w + start[1]
    dist[s] = 0.0
    heap = [(0.0, s)]
    offsets = [dy * g_w + dx for dy, dx in _DIRS]
    while heap:
        d, i = heapq.heappop(heap)
        if d > dist[i]:
            continue
        for k, o in enumerate(offsets):
            j = i + o
            if not 0 <= j < len(flat):
                continue
            nd = d + flat[j]
            if nd < dist[j]:
                dist[j] = nd
                first[j] = k if i == s else first[i]
                heapq.heappush(heap, (nd, j))
    return np.array(dist).reshape(g_h, g_w), np.array(first).reshape(g_h, g_w)


def _first_target(from_agent: np.ndarray, between: np.ndarray) -> int:
    """Index (into the K waiting victims) of the first stop of the cheapest order through all of them, from the
    agent's costs to each ``from_agent`` (K,) and the victims' costs to each other ``between`` (K, K)."""
    k = len(from_agent)
    if k <= 6:
        best, best_first = _INF, int(np.argmin(from_agent))
        for order in itertools.permutations(range(k)):
            total = from_agent[order[0]] + sum(between[a, b] for a, b in zip(order, order[1:]))
            if total < best:
                best, best_first = total, order[0]
        return best_first
    return int(np.argmin(from_agent))


def _turn_toward(heading: int, direction: int) -> int:
    """The Habitat action that brings ``heading`` to ``direction``: forward when it already faces it."""
    turn = (direction - heading) % 4
    return _FORWARD if turn == 0 else _RIGHT if turn == 1 else _LEFT  # a half turn goes left


def plan_action(episode: dict, habitat: bool = False, deep_depth: int = 2, risk_cost: float = 20.0,
                deep_water_cost: float = 2.0) -> int:
    """The scripted rescuer's action for one env state (``DisasterRescueEnv.get_state()["episode"]``): an absolute
    move (0-3: north, east, south, west) or, with ``habitat``, move_forward / turn_left / turn_right (1-3)."""
    cost = _entry_costs(episode, deep_depth, risk_cost, deep_water_cost)
    agent = tuple(int(v) for v in episode["agent"])
    heading = int(episode["heading"])
    victims = np.asarray(episode["victims"], dtype=np.int64).reshape(-1, 2)
    waiting = victims[np.asarray(episode["status"]) == 0]  # (K, 2)
    dist, first = _dijkstra(cost, agent)
    reach = np.array([dist[v[0], v[1]] for v in waiting]) if len(waiting) else np.zeros(0)
    direction = -1
    if np.isfinite(reach).any():
        targets = waiting[np.isfinite(reach)]
        from_victims = [_dijkstra(cost, (int(v[0]), int(v[1])))[0] for v in targets]
        between = np.array([[f[w[0], w[1]] for w in targets] for f in from_victims])  # (K, K)
        target = targets[_first_target(reach[np.isfinite(reach)], between)]
        direction = int(first[target[0], target[1]])
    if direction < 0:
        return _stay(cost, np.asarray(episode["walls"], dtype=bool), agent, heading, habitat, risk_cost)
    return _turn_toward(heading, direction) if habitat else direction


def _stay(cost: np.ndarray, walls: np.ndarray, agent: Sequence[int], heading: int, habitat: bool,
          risk_cost: float) -> int:
    """No waiting victim reachable: keep still where fire cannot reach (a turn, or a step into a wall), otherwise
    step to the cheapest neighbour."""
    y, x = agent
    if cost[y, x] < risk_cost:  # the agent's own cell is not next to fire
        if habitat:
            return _LEFT
        bumps = [k for k, (dy, dx) in enumerate(_DIRS) if walls[y + dy, x + dx]]  # a bump leaves it in place
        if bumps:
            return bumps[0]
    costs = [cost[y + dy, x + dx] for dy, dx in _DIRS]
    direction = int(np.argmin(costs))
    return _turn_toward(heading, direction) if habitat else direction
