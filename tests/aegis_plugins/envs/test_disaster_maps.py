"""aegis_plugins/envs/disaster_maps.py: random maps keep every victim reachable, text layouts, BFS, the SPL tour."""
from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
import pytest

from aegis.errors import ConfigError
from aegis_plugins.envs.disaster_config import PRESETS, DisasterConfig
from aegis_plugins.envs.disaster_maps import UNREACHABLE, bfs, generate_layout, parse_layout, shortest_tour


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


@pytest.mark.parametrize("preset", ["medium", "hard"])
def test_every_victim_and_fire_is_inside_the_bordered_open_region(preset):
    cfg = dataclasses.replace(PRESETS[preset], wall_density=0.35)
    rng = np.random.default_rng(0)
    for _ in range(30):
        layout = generate_layout(cfg, rng)
        reach = _reachable(layout.walls, layout.agent)
        assert layout.victims.shape == (cfg.num_victims, 2) and layout.fires.shape == (cfg.num_fires, 2)
        assert all(reach[tuple(v)] for v in layout.victims) and all(reach[tuple(f)] for f in layout.fires)
        assert layout.walls[0].all() and layout.walls[-1].all() and layout.walls[:, 0].all()
        assert layout.walls[:, -1].all() and 0 <= layout.heading < 4


def test_fires_start_at_least_fire_min_distance_away():
    cfg = DisasterConfig(grid_size=12, num_fires=3, fire_min_distance=5)
    rng = np.random.default_rng(1)
    for _ in range(10):
        layout = generate_layout(cfg, rng)
        dist = bfs(~layout.walls, layout.agent)
        assert all(dist[tuple(f)] >= 5 for f in layout.fires)


def test_a_text_layout_places_everything_and_closes_the_border():
    cfg = DisasterConfig(grid_size=6, num_victims=2)
    rows = ["......", "#A..F#", "#....#", "#.V.S#", "#...V#", "......"]
    layout = parse_layout(rows, cfg, heading=2, rng=np.random.default_rng(0))
    assert layout.agent == (1, 1) and layout.heading == 2
    assert layout.victims.tolist() == [[3, 2], [4, 4]] and layout.fires.tolist() == [[1, 4]]
    assert layout.flood.tolist() == [[3, 4]]
    assert layout.walls[0].all() and layout.walls[-1].all()  # '.' on the border became wall
    drawn = {int(parse_layout(rows, cfg, heading=None, rng=np.random.default_rng(s)).heading) for s in range(20)}
    assert drawn == {0, 1, 2, 3}  # no heading given: drawn from the env's generator


def test_bad_layouts_say_what_is_expected():
    cfg = DisasterConfig(grid_size=6)
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="6 strings of 6"):
        parse_layout(["####"], cfg, None, rng)
    with pytest.raises(ConfigError, match=r"unknown characters \['x'\]"):
        parse_layout(["######", "#Ax..#", "#....#", "#..V.#", "#....#", "######"], cfg, None, rng)
    with pytest.raises(ConfigError, match="exactly one 'A' and num_victims=1 'V'.*got 1 and 2"):
        parse_layout(["######", "#A.V.#", "#....#", "#..V.#", "#....#", "######"], cfg, None, rng)


def test_bfs_walks_around_walls_and_marks_closed_rooms_unreachable():
    walls = np.array([list(r) for r in ["#####", "#..##", "##.##", "#.#.#", "#####"]]) == "#"
    dist = bfs(~walls, (1, 1))
    assert dist[1, 2] == 1 and dist[2, 2] == 2
    assert dist[3, 1] == UNREACHABLE and dist[3, 3] == UNREACHABLE


def _distances(free: np.ndarray, start) -> np.ndarray:
    """Reference grid distances: a plain queue BFS over (row, col) pairs."""
    dist = np.full(free.shape, UNREACHABLE, dtype=np.int64)
    dist[start] = 0
    queue = deque([start])
    while queue:
        y, x = queue.popleft()
        for n in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
            if free[n] and dist[n] == UNREACHABLE:
                dist[n] = dist[y, x] + 1
                queue.append(n)
    return dist


@pytest.mark.parametrize("density", [0.0, 0.2, 0.45])
def test_bfs_matches_a_plain_search_in_open_rooms_and_mazes(density):
    """bfs answers an open room (no inner wall) without searching; that answer and the search's must both be the
    true grid distances, on square and oblong maps, from free cells and from a cell inside a wall."""
    rng = np.random.default_rng(3)
    for shape in [(8, 8), (5, 9), (14, 14)]:
        walls = np.ones(shape, dtype=bool)
        walls[1:-1, 1:-1] = rng.random((shape[0] - 2, shape[1] - 2)) < density
        for start in [tuple(int(v) for v in np.argwhere(~walls)[0]), (shape[0] // 2, shape[1] // 2)]:
            dist = bfs(~walls, start)
            assert dist.dtype == np.int64 and np.array_equal(dist, _distances(~walls, start)), (shape, start)
    open_room = np.zeros((6, 6), dtype=bool)
    open_room[1:-1, 1:-1] = True
    assert bfs(open_room, (1, 1))[4, 4] == 6 and bfs(open_room, (1, 1))[0, 0] == UNREACHABLE


def test_shortest_tour_is_exact_for_few_victims_and_greedy_beyond_seven():
    # Victims on a line at 1, 5 and 10 from the agent: visiting them in order costs 10.
    pos = np.array([1, 5, 10])
    first, pair = pos.astype(float), np.abs(pos[:, None] - pos[None, :]).astype(float)
    assert shortest_tour(first, pair) == 10.0
    # Agent at 0 between victims at -1 and +3: exact goes -1 first (1 + 4 = 5), not +3 first (3 + 4 = 7).
    pos = np.array([-1, 3])
    assert shortest_tour(np.abs(pos).astype(float), np.abs(pos[:, None] - pos[None, :]).astype(float)) == 5.0
    pos = np.arange(1, 10)  # 9 victims: greedy nearest-next, here also optimal
    assert shortest_tour(pos.astype(float), np.abs(pos[:, None] - pos[None, :]).astype(float)) == 9.0
