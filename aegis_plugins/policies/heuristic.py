"""A scripted rescuer that knows the map: the upper reference the trained agents of DisasterRescueEnv are measured
against (next to a uniformly random policy, the lower one).

It does not look at the pixels. At every step it reads the env's public ``get_state()`` (walls, agent, heading,
victims and their status, burning cells, water depth) and plans on the grid:

1. Every cell gets an entry cost: 1, plus ``risk_cost`` when fire may spread into it next step (a free, unburnt,
   dry 4-neighbour of a burning cell), plus ``deep_water_cost`` when its water is deep (leaving it takes two steps
   and it is where the flood drowns). Burning cells cannot be entered (the episode would end).
2. Dijkstra gives the cheapest paths from the agent and from every waiting victim. The victim visited first is the
   first of the best order through all waiting victims (every order up to 6 victims, nearest first beyond): the
   most victims expected to be reached in time, then the shortest walk. A victim is expected to be there at step t
   unless its deep water drowns it first (its health left) or the fire gets there: fire's expected arrival is the
   cheapest chain of ignitions from a burning cell through dry floor, each taking 1 / p steps for the spread
   probability p toward that side (wind included), and the chance it has not arrived after t steps is binomial.
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

__all__ = ["ScriptedRescuePolicy", "plan_action", "spread_probabilities"]

_DIRS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # north, east, south, west: the env's headings and absolute moves
_FORWARD, _LEFT, _RIGHT = 1, 2, 3  # Habitat actions (0 is stop, never used)
_STATE_KEYS = ("walls", "agent", "heading", "victims", "status", "health", "fire_t", "ash", "depth")
_INF = float("inf")
_LENGTH_WEIGHT = 0.01  # expected victims one step of walking is worth, when comparing orders of the victims


class ScriptedRescuePolicy:
    """The map-knowing rescuer (module docstring) in SB3's ``predict`` form, so that ``evaluate_policy`` and
    :func:`~.rl_eval.run_episodes` play it like any agent on the same seeded episodes.

    ``envs`` is the VecEnv it acts in (the one whose observations ``predict`` receives; a VecFrameStack or Monitor
    around it is fine): ``predict`` ignores the observation and reads each env's state through
    ``envs.env_method("get_state")`` and its knobs through ``envs.get_attr("config")`` (a DisasterRescueEnv
    ``DisasterConfig``: ``action_mode``, ``deep_depth``, ``p_spread``, ``wind``, ``wind_strength``). Returns
    actions (B,) int64 for the B envs. Deterministic.
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
        self.envs, self.configs = envs, configs
        self.risk_cost, self.deep_water_cost = float(risk_cost), float(deep_water_cost)

    def predict(self, observation: Any = None, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """Actions (B,) from the envs' current states (the observation is not read); ``state`` passes through."""
        actions = [plan_action(s["episode"], self.configs[i], self.risk_cost, self.deep_water_cost)
                   for i, s in enumerate(_env_call(self.envs, "get_state"))]
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


def _dijkstra(cost: np.ndarray, start: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cheapest path costs (G, G) from ``start`` (entering a cell costs ``cost`` there), each cell's first move
    (G, G) int (the direction index of the first step of its cheapest path; -1 for the start and unreached) and
    the number of moves on that path (G, G)."""
    g_h, g_w = cost.shape
    flat = cost.ravel().tolist()
    dist = [_INF] * (g_h * g_w)
    first = [-1] * (g_h * g_w)
    moves = [0] * (g_h * g_w)
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
                moves[j] = moves[i] + 1
                heapq.heappush(heap, (nd, j))
    shape = (g_h, g_w)
    return np.array(dist).reshape(shape), np.array(first).reshape(shape), np.array(moves).reshape(shape)


def _fire_arrival(episode: dict, spread_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every cell: the expected steps until fire reaches it (G, G) (the cheapest chain of ignitions from a
    burning cell through unburnt dry floor, an ignition toward direction k taking 1 / spread_p[k] steps on average;
    inf where fire cannot go) and the number of ignitions on that chain (G, G)."""
    walls = np.asarray(episode["walls"], dtype=bool)
    burning = np.asarray(episode["fire_t"]) > 0
    flammable = ~walls & ~np.asarray(episode["ash"], dtype=bool) & (np.asarray(episode["depth"]) == 0)
    g_h, g_w = walls.shape
    ok = flammable.ravel().tolist()
    time_, hops = [_INF] * (g_h * g_w), [0] * (g_h * g_w)
    heap = []
    for i in np.flatnonzero(burning.ravel()).tolist():
        time_[i] = 0.0
        heap.append((0.0, i))
    heapq.heapify(heap)
    offsets = [dy * g_w + dx for dy, dx in _DIRS]
    waits = [1.0 / p if p > 0 else _INF for p in spread_p]
    while heap:
        t, i = heapq.heappop(heap)
        if t > time_[i]:
            continue
        for o, wait in zip(offsets, waits):
            j = i + o
            if 0 <= j < len(ok) and ok[j] and t + wait < time_[j]:
                time_[j], hops[j] = t + wait, hops[i] + 1
                heapq.heappush(heap, (t + wait, j))
    return np.array(time_).reshape(g_h, g_w), np.array(hops).reshape(g_h, g_w)


def _survival(t: float, fire_time: float, fire_hops: int, health_left: float) -> float:
    """Chance that a victim is still there after ``t`` steps: drowned when ``health_left`` (steps; inf when not in
    deep water) runs out; fire arrives after ``fire_hops`` ignitions, each step one with probability
    q = fire_hops / fire_time: survival is P(Binomial(t, q) < fire_hops)."""
    if t >= health_left:
        return 0.0
    if not np.isfinite(fire_time) or fire_hops == 0:
        return 0.0 if fire_hops == 0 and np.isfinite(fire_time) else 1.0
    q = min(1.0, fire_hops / max(fire_time, 1e-9))
    n = int(t)
    if q >= 1.0:
        return 1.0 if n < fire_hops else 0.0
    # P(X < h) for X ~ Binomial(n, q), summed term by term
    term, total = (1.0 - q) ** n, 0.0
    for k in range(min(fire_hops, n + 1)):
        total += term
        term *= (n - k) / (k + 1) * q / (1.0 - q)
    return min(1.0, total)


def _first_target(from_agent: np.ndarray, between: np.ndarray, survival) -> int:
    """Index (into the K waiting victims) of the first stop of the best order through all of them: the most
    victims expected to be reached before fire or water takes them, then the shortest walk. ``from_agent`` (K,)
    and ``between`` (K, K) are walking steps; ``survival(k, t)`` the chance victim k is still there at step t."""
    k = len(from_agent)
    if k > 6:
        return int(np.argmin(from_agent))
    best, best_first = -_INF, int(np.argmin(from_agent))
    for order in itertools.permutations(range(k)):
        t, expected = 0.0, 0.0
        for i, victim in enumerate(order):
            t += from_agent[victim] if i == 0 else between[order[i - 1], victim]
            expected += survival(victim, t)
        score = expected - _LENGTH_WEIGHT * t
        if score > best:
            best, best_first = score, order[0]
    return best_first


def _turn_toward(heading: int, direction: int) -> int:
    """The Habitat action that brings ``heading`` to ``direction``: forward when it already faces it."""
    turn = (direction - heading) % 4
    return _FORWARD if turn == 0 else _RIGHT if turn == 1 else _LEFT  # a half turn goes left


def spread_probabilities(config) -> np.ndarray:
    """Fire's chance per step (4,) to ignite the neighbour toward north, east, south, west, from a
    DisasterConfig's p_spread, wind and wind_strength (the env's rule)."""
    probs = np.full(4, float(config.p_spread))
    if config.wind != "none":
        w = ("north", "east", "south", "west").index(config.wind)
        probs[w] *= 1.0 + config.wind_strength
        probs[(w + 2) % 4] *= 1.0 - config.wind_strength
    return np.clip(probs, 0.0, 1.0)


def plan_action(episode: dict, config, risk_cost: float = 20.0, deep_water_cost: float = 2.0) -> int:
    """The scripted rescuer's action for one env state (``DisasterRescueEnv.get_state()["episode"]``) under the
    env's ``config`` (a DisasterConfig): an absolute move (0-3: north, east, south, west) or, with
    ``config.action_mode == "habitat"``, move_forward / turn_left / turn_right (1-3)."""
    habitat = config.action_mode == "habitat"
    cost = _entry_costs(episode, int(config.deep_depth), risk_cost, deep_water_cost)
    agent = tuple(int(v) for v in episode["agent"])
    heading = int(episode["heading"])
    victims = np.asarray(episode["victims"], dtype=np.int64).reshape(-1, 2)
    status = np.asarray(episode["status"])
    dist, first, moves = _dijkstra(cost, agent)
    waiting = np.flatnonzero((status == 0) & np.isfinite(dist[victims[:, 0], victims[:, 1]]))
    direction = -1
    if len(waiting):
        cells = victims[waiting]  # (K, 2)
        from_agent = moves[cells[:, 0], cells[:, 1]].astype(float)
        from_victims = [_dijkstra(cost, (int(v[0]), int(v[1])))[2] for v in cells]
        between = np.array([[m[w[0], w[1]] for w in cells] for m in from_victims], dtype=float)  # (K, K)
        fire_time, fire_hops = _fire_arrival(episode, spread_probabilities(config))
        depth = np.asarray(episode["depth"])
        health = np.asarray(episode["health"], dtype=float)[waiting]
        drowning = depth[cells[:, 0], cells[:, 1]] >= config.deep_depth

        def survival(k: int, t: float) -> float:
            y, x = cells[k]
            return _survival(t, fire_time[y, x], int(fire_hops[y, x]), health[k] if drowning[k] else _INF)

        target = cells[_first_target(from_agent, between, survival)]
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
