"""aegis_plugins/envs/disaster_render.py: cell codes, colours, the egocentric rotation and the top-down frame."""
from __future__ import annotations

import numpy as np

from aegis_plugins.envs.disaster import DisasterRescueEnv
from aegis_plugins.envs.disaster_render import AGENT as AGENT_CODE
from aegis_plugins.envs.disaster_render import PALETTE, FrameRenderer, base_codes, cell_codes

RIGHT, LEFT = 3, 2
FLOOR, WALL, AGENT, FIRE = (40, 40, 40), (150, 150, 150), (255, 255, 255), (255, 90, 0)


def _walls(n: int = 4) -> np.ndarray:
    walls = np.ones((n, n), dtype=bool)
    walls[1:-1, 1:-1] = False
    return walls


def test_cell_codes_layer_hazards_victims_and_agent():
    walls = _walls(5)
    fire_t, ash, depth = np.zeros((5, 5), int), np.zeros((5, 5), bool), np.zeros((5, 5), int)
    fire_t[1, 3], ash[3, 1], depth[3, 3] = 2, True, 2
    victims = np.array([[2, 2], [1, 2], [2, 3]])
    codes = cell_codes(base_codes(walls), fire_t, ash, depth, victims, waiting=np.array([True, True, False]),
                       health=np.array([10, 5, 10]), full_health=10, agent=np.array([1, 1]))
    colour = PALETTE[codes]  # (5, 5, 3)
    assert tuple(colour[0, 0]) == WALL and tuple(colour[1, 1]) == AGENT and tuple(colour[1, 3]) == FIRE
    assert tuple(colour[3, 1]) == (70, 50, 35)  # ash
    assert tuple(colour[3, 3]) == (60, 135, 215)  # water of depth 2: the second blue shade
    assert tuple(colour[2, 2]) == (255, 230, 0) and tuple(colour[1, 2]) == (200, 120, 200)  # healthy, weak victim
    assert tuple(colour[2, 3]) == FLOOR  # a rescued or lost victim is not drawn
    no_hazards = cell_codes(base_codes(walls), None, None, None, victims, np.zeros(3, bool), np.ones(3), 1,
                            np.array([1, 1]))
    assert set(np.unique(no_hazards)) == {0, 1, AGENT_CODE}  # floor, wall, agent


def test_global_frame_scales_cells_to_pixels_and_draws_the_nose():
    renderer = FrameRenderer(obs_size=16, grid_size=4, view="global", view_size=3)
    codes = base_codes(_walls())
    codes[1, 1] = AGENT_CODE
    frame = renderer.observation(codes, np.array([1, 1]), heading=1)  # facing east
    assert frame.shape == (16, 16, 3) and frame.dtype == np.uint8
    assert tuple(frame[0, 0]) == WALL and tuple(frame[9, 9]) == FLOOR
    assert tuple(frame[5, 4]) == AGENT and tuple(frame[5, 7]) == (0, 200, 80)  # the nose on the east side


def test_egocentric_view_turns_with_the_agent():
    env = DisasterRescueEnv(preset="hard", view_size=7, obs_size=63, grid_size=10)
    env.reset(seed=4)
    before = env.step(RIGHT)[0]
    after = env.step(LEFT)[0]
    centre = np.zeros((63, 63), dtype=bool)
    centre[27:36, 27:36] = True  # the agent's own cell (its nose is redrawn facing up)
    turned = np.rot90(before, k=-1)
    # The hazards may change between steps, so compare walls (grey) only.
    wall = np.array(WALL, dtype=np.uint8)
    assert np.array_equal((turned == wall).all(-1) & ~centre, (after == wall).all(-1) & ~centre)
    assert (after[31, 31] == 255).all()  # the agent is always at the centre


def test_render_is_the_global_top_down_frame():
    env = DisasterRescueEnv(preset="easy", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and np.array_equal(frame, obs)
    assert (frame == 255).all(-1).any()  # the agent is drawn
    egocentric = DisasterRescueEnv(preset="hard", render_mode="rgb_array")
    obs, _ = egocentric.reset(seed=0)
    top = egocentric.render()
    assert top.shape == obs.shape and not np.array_equal(top, obs)  # render shows the whole map, not the view
