"""DisasterRescueEnv's maps: random generation, hand-written text layouts, grid distances (BFS) and the shortest
tour through every victim (the optimal path length behind SPL; Anderson et al., "On Evaluation of Embodied Navigation
Agents", arXiv:1807.06757, 2018).

A map is a :class:`Layout`: where the walls, the agent, the victims, the fires and the flood sources are at the
start of an episode. Everything that moves afterwards lives in the env.
"""
from __future__ import annotations

import itertools
from typing import NamedTuple, Sequence

import numpy as np

from aegis.errors import ConfigError

from .disaster_config import DisasterConfig

__all__ = ["Layout", "UNREACHABLE", "bfs", "generate_layout", "parse_layout", "shortest_tour"]

UNREACHABLE = 10**6  # the distance bfs gives cells it cannot reach


class Layout(NamedTuple):
    """An episode's start: walls (G, G) bool (True on the border), the agent's (row, col) and heading (index into
    DIR_NAMES), victims (K, 2), fires (F, 2) and flood sources (S, 2) as (row, col) int64 rows."""
    walls: np.ndarray
    agent: tuple[int, int]
    heading: int
    victims: np.ndarray
    fires: np.ndarray
    flood: np.ndarray


def _cells(points) -> np.ndarray:
    return np.array(points, dtype=np.int64).reshape(-1, 2)  # (n, 2)


def bfs(free: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Grid distances (G, G) (4-connected, through `free` cells) from `start`; unreachable cells get UNREACHABLE.

    `free` must be False on the border (the map's outer walls), so flat neighbours never wrap around. An open room
    (every inner cell free, e.g. wall_density=0) needs no search: its distances are the Manhattan distances.
    """
    g_h, g_w = free.shape
    y, x = int(start[0]), int(start[1])
    if free[y, x] and free[1:-1, 1:-1].all() and np.count_nonzero(free) == (g_h - 2) * (g_w - 2):
        dist = np.abs(np.arange(g_h, dtype=np.int64) - y)[:, None] + np.abs(np.arange(g_w, dtype=np.int64) - x)
        dist[~free] = UNREACHABLE
        return dist
    unseen = free.ravel().tolist()  # a free cell is cleared once it has its distance
    dist = [UNREACHABLE] * (g_h * g_w)
    s = y * g_w + x
    dist[s], unseen[s] = 0, False
    frontier, d = [s], 0
    while frontier:  # breadth first, one distance ring at a time
        d += 1
        ring = []
        for i in frontier:
            for j in (i - g_w, i + 1, i + g_w, i - 1):
                if unseen[j]:
                    unseen[j] = False
                    dist[j] = d
                    ring.append(j)
        frontier = ring
    return np.array(dist, dtype=np.int64).reshape(g_h, g_w)


def generate_layout(cfg: DisasterConfig, rng: np.random.Generator) -> Layout:
    """Sample a map: random interior walls, keep the largest connected region, place everything inside it.

    The agent starts where the region was grown from (a uniformly random cell of it), so every victim is reachable.
    The draws from `rng` and their order are part of the env's seeding: same seed, same episodes.
    """
    g = cfg.grid_size
    for _ in range(100):
        walls = np.ones((g, g), dtype=bool)
        walls[1:-1, 1:-1] = rng.random((g - 2, g - 2)) < cfg.wall_density
        free = ~walls
        cells = np.argwhere(free)
        if len(cells) == 0:
            continue
        start = tuple(int(v) for v in cells[rng.integers(len(cells))])
        dist = bfs(free, start)
        region = dist < UNREACHABLE
        if region.sum() < (free.sum() + 1) // 2 or region.sum() < cfg.num_victims + cfg.num_fires + 2:
            continue  # the start fell in a small pocket: try again
        walls |= ~region  # cells outside the region become walls, so every victim is reachable
        break
    else:
        raise ConfigError(f"DisasterRescueEnv: could not generate a connected map with wall_density="
                          f"{cfg.wall_density} in 100 tries; lower wall_density.")
    free_cells = np.argwhere(~walls & (dist > 0))  # (F, 2)
    order = rng.permutation(len(free_cells))
    victims = free_cells[order[:cfg.num_victims]]
    rest = free_cells[order[cfg.num_victims:]]
    far = dist[rest[:, 0], rest[:, 1]]
    fires = rest[far >= cfg.fire_min_distance][:cfg.num_fires]
    if len(fires) < cfg.num_fires:  # tiny maps: take the farthest cells
        fires = rest[np.argsort(-far, kind="stable")[:cfg.num_fires]]
    flood = free_cells[rng.permutation(len(free_cells))[:cfg.num_flood_sources]]
    return Layout(walls, start, int(rng.integers(4)), _cells(victims), _cells(fires), _cells(flood))


def parse_layout(rows: Sequence[str], cfg: DisasterConfig, heading: int | None,
                 rng: np.random.Generator) -> Layout:
    """A map from text (reset(options={"layout": rows})): one string per row, '#' wall, '.' floor, 'A' agent,
    'V' victim, 'F' fire, 'S' flood source. The border is always wall. `heading` None draws one from `rng`."""
    rows = [str(r) for r in rows]
    g = cfg.grid_size
    if len(rows) != g or any(len(r) != g for r in rows):
        raise ConfigError(f"DisasterRescueEnv: options['layout'] must be {g} strings of {g} characters "
                          f"(grid_size={g}); got {len(rows)} rows of lengths {sorted({len(r) for r in rows})}.")
    chars = np.array([list(r) for r in rows])  # (G, G)
    unknown = {str(c) for c in chars.ravel()} - set("#.AVFS")
    if unknown:
        raise ConfigError(f"DisasterRescueEnv: options['layout'] has unknown characters {sorted(unknown)}; "
                          "expected '#' wall, '.' floor, 'A' agent, 'V' victim, 'F' fire, 'S' flood source.")
    walls = chars == "#"
    walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = True
    cells = {c: [tuple(int(v) for v in p) for p in np.argwhere(chars == c)] for c in "AVFS"}
    if len(cells["A"]) != 1 or len(cells["V"]) != cfg.num_victims:
        raise ConfigError(f"DisasterRescueEnv: options['layout'] needs exactly one 'A' and num_victims="
                          f"{cfg.num_victims} 'V' inside the border; got {len(cells['A'])} and "
                          f"{len(cells['V'])}.")
    if heading is None:
        heading = int(rng.integers(4))
    return Layout(walls, cells["A"][0], heading, _cells(cells["V"]), _cells(cells["F"]), _cells(cells["S"]))


def shortest_tour(first: np.ndarray, pair: np.ndarray) -> float:
    """Length of the shortest walk that starts at the agent and visits every victim, from the agent's distance to
    each victim `first` (K,) and the victims' distances to each other `pair` (K, K). Exact up to 7 victims (all
    orders), greedy nearest-next beyond."""
    k = len(first)
    if k <= 7:
        best = min(first[p[0]] + sum(pair[a, b] for a, b in zip(p, p[1:]))
                   for p in itertools.permutations(range(k)))
        return float(best)
    left, here, total = set(range(k)), None, 0
    while left:
        nxt = min(left, key=lambda j: first[j] if here is None else pair[here, j])
        total += first[nxt] if here is None else pair[here, nxt]
        here = nxt
        left.remove(nxt)
    return float(total)
