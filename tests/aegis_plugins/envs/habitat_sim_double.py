"""TEST DOUBLE of habitat-sim's Python API (the subset HabitatSimBackend uses), for machines without habitat-sim.

This is not habitat-sim and renders nothing photorealistic. It mirrors what habitat-sim 0.2.5-0.3.3 documents for
that subset, so that one contract test suite can run unchanged against it and against the real simulator:

- ``SimulatorConfiguration`` / ``CameraSensorSpec`` objects reject unknown attributes (they are pybind objects in
  habitat-sim); ``resolution`` is ``[H, W]``; ``Configuration(sim_cfg, agents)``;
- ``agent.AgentConfiguration`` with the default action space ``move_forward`` 0.25 m, ``turn_left`` /
  ``turn_right`` 10 degrees; ``AgentState`` rotation given as ``[x, y, z, w]`` coefficients or a quaternion with
  ``w, x, y, z`` attributes; positions must be finite and rotations unit length;
- ``Simulator.step(key)`` returns observations keyed by sensor uuid, COLOR ``(H, W, 4)`` uint8 RGBA, DEPTH
  ``(H, W)`` float32 metres, plus ``"collided"``; an unknown action key fails; ``reset()`` before an initial state is
  a RuntimeError; ``initialize_agent(0, None)`` samples a navigable pose;
- ``pathfinder``: ``is_loaded``, ``get_random_navigable_point()`` (any island), ``is_navigable``, ``snap_point``,
  ``find_path(ShortestPath)`` returning False with ``geodesic_distance = inf`` when there is no path, ``seed``.

The world is a flat floor plan on the x-z plane (y up, floor at y=0): scene ``"double://room"`` is an 8 x 8 m room
split by a partition wall with a gap, plus a sealed closet (a navigable island no path reaches);
``"double://no_navmesh"`` loads without a navmesh. The machine has one EGL device (``gpu_device_id`` 0 or -1).
Images come from a per-column ray cast.
"""
from __future__ import annotations

import enum
import heapq
import math
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__version__ = "0.3.3+aegis.test.double"
IS_TEST_DOUBLE = True

_ROOM = dict(bounds=(0.0, 0.0, 8.0, 8.0),  # x0, z0, x1, z1
             boxes=[(3.9, 0.0, 4.1, 5.5),  # partition wall, gap for z in (5.5, 8)
                    (5.9, 5.9, 6.1, 8.0), (5.9, 5.9, 8.0, 6.1)])  # sealed closet x, z in (6.1, 8)
SCENES = {"double://room": _ROOM, "double://no_navmesh": None}


class SensorType(enum.Enum):
    NONE = 0
    COLOR = 1
    DEPTH = 2
    SEMANTIC = 4


class SensorSubType(enum.Enum):
    NONE = 0
    PINHOLE = 1
    ORTHOGRAPHIC = 2


class _Strict:
    """Objects that, like habitat-sim's pybind configs, refuse attributes they do not have."""
    __slots__ = ()


class SimulatorConfiguration(_Strict):
    __slots__ = ("scene_id", "scene_dataset_config_file", "enable_physics", "gpu_device_id", "random_seed",
                 "default_agent_id", "allow_sliding", "create_renderer", "requires_textures", "load_semantic_mesh",
                 "frustum_culling", "physics_config_file", "navmesh_settings", "enable_hbao")

    def __init__(self) -> None:
        self.scene_id = ""
        self.scene_dataset_config_file = "default"
        self.enable_physics = False
        self.gpu_device_id = 0
        self.random_seed = 0
        self.default_agent_id = 0
        self.allow_sliding = True
        self.create_renderer = True
        self.requires_textures = True
        self.load_semantic_mesh = True
        self.frustum_culling = True
        self.physics_config_file = "data/default.physics_config.json"
        self.navmesh_settings = None
        self.enable_hbao = False


class CameraSensorSpec(_Strict):
    __slots__ = ("uuid", "sensor_type", "sensor_subtype", "resolution", "position", "orientation", "hfov", "near",
                 "far")

    def __init__(self) -> None:
        self.uuid = ""
        self.sensor_type = SensorType.COLOR
        self.sensor_subtype = SensorSubType.PINHOLE
        self.resolution = [128, 128]
        self.position = [0.0, 1.5, 0.0]
        self.orientation = [0.0, 0.0, 0.0]
        self.hfov = 90.0
        self.near = 0.01
        self.far = 1000.0


@dataclass
class ActuationSpec:
    amount: float
    constraint: float | None = None


@dataclass
class ActionSpec:
    name: str
    actuation: ActuationSpec | None = None


def _default_action_space() -> dict[Any, ActionSpec]:
    return dict(move_forward=ActionSpec("move_forward", ActuationSpec(amount=0.25)),
                turn_left=ActionSpec("turn_left", ActuationSpec(amount=10.0)),
                turn_right=ActionSpec("turn_right", ActuationSpec(amount=10.0)))


class quaternion:  # noqa: N801 - the attribute names of numpy-quaternion's np.quaternion
    def __init__(self, w: float, x: float, y: float, z: float) -> None:
        self.w, self.x, self.y, self.z = float(w), float(x), float(y), float(z)

    def __repr__(self) -> str:
        return f"quaternion({self.w}, {self.x}, {self.y}, {self.z})"


def quat_from_coeffs(coeffs) -> quaternion:
    x, y, z, w = (float(c) for c in coeffs)
    return quaternion(w, x, y, z)


@dataclass
class AgentState:
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: Any = field(default_factory=lambda: quaternion(1, 0, 0, 0))
    sensor_states: dict = field(default_factory=dict)


@dataclass
class AgentConfiguration:
    height: float = 1.5
    radius: float = 0.1
    sensor_specifications: list = field(default_factory=list)
    action_space: dict = field(default_factory=_default_action_space)
    body_type: str = "cylinder"


@dataclass
class Configuration:
    sim_cfg: SimulatorConfiguration
    agents: list
    metadata_mediator: Any = None


class ShortestPath:
    def __init__(self) -> None:
        self.requested_start = np.zeros(3, dtype=np.float32)
        self.requested_end = np.zeros(3, dtype=np.float32)
        self.points: list[np.ndarray] = []
        self.geodesic_distance = 0.0


def _yaw(rotation) -> float:
    return 2.0 * math.atan2(rotation.y, rotation.w)


class PathFinder:
    """A flat floor plan with box obstacles; navigable = inside the room and `radius` away from every box."""

    CELL = 0.1  # metres, for geodesic search

    def __init__(self, plan: dict | None, radius: float) -> None:
        self.is_loaded = plan is not None
        self._rng = np.random.default_rng(0)
        if plan is None:
            return
        self.bounds = plan["bounds"]
        self.boxes = np.array(plan["boxes"], dtype=np.float64).reshape(-1, 4)
        self.radius = radius
        x0, z0, x1, z1 = self.bounds
        self._nx, self._nz = int(round((x1 - x0) / self.CELL)), int(round((z1 - z0) / self.CELL))
        cx = x0 + (np.arange(self._nx) + 0.5) * self.CELL
        cz = z0 + (np.arange(self._nz) + 0.5) * self.CELL
        gx, gz = np.meshgrid(cx, cz, indexing="ij")
        self._free = self._navigable_xz(gx, gz)  # (nx, nz)
        cells = np.argwhere(self._free)
        self._centres = np.stack([x0 + (cells[:, 0] + 0.5) * self.CELL, z0 + (cells[:, 1] + 0.5) * self.CELL], 1)
        self._fields: dict[tuple[int, int], np.ndarray] = {}

    def _navigable_xz(self, x, z):
        x0, z0, x1, z1 = self.bounds
        r = self.radius
        ok = (x >= x0 + r) & (x <= x1 - r) & (z >= z0 + r) & (z <= z1 - r)
        for bx0, bz0, bx1, bz1 in self.boxes:
            ok &= ~((x > bx0 - r) & (x < bx1 + r) & (z > bz0 - r) & (z < bz1 + r))
        return ok

    def seed(self, seed: int) -> None:
        self._rng = np.random.default_rng(int(seed))

    def is_navigable(self, point, max_y_delta: float = 0.5) -> bool:
        p = np.asarray(point, dtype=np.float64)
        return bool(abs(p[1]) <= max_y_delta and self._navigable_xz(p[0], p[2]))

    def get_random_navigable_point(self, max_tries: int = 10, island_index: int = -1) -> np.ndarray:
        cells = np.argwhere(self._free)
        i, k = cells[self._rng.integers(len(cells))]
        x0, z0 = self.bounds[0], self.bounds[1]
        jitter = self._rng.uniform(-0.4, 0.4, size=2) * self.CELL
        p = np.array([x0 + (i + 0.5) * self.CELL + jitter[0], 0.0, z0 + (k + 0.5) * self.CELL + jitter[1]])
        return (p if self.is_navigable(p) else np.array([x0 + (i + 0.5) * self.CELL, 0.0,
                                                         z0 + (k + 0.5) * self.CELL])).astype(np.float32)

    def _cell(self, p) -> tuple[int, int]:
        x0, z0 = self.bounds[0], self.bounds[1]
        i = min(max(int((p[0] - x0) / self.CELL), 0), self._nx - 1)
        k = min(max(int((p[2] - z0) / self.CELL), 0), self._nz - 1)
        if not self._free[i, k]:  # snap to the nearest free cell
            cells = np.argwhere(self._free)
            i, k = cells[np.argmin(((cells - (i, k)) ** 2).sum(1))]
        return int(i), int(k)

    def _near_navmesh(self, p, extent: float = 2.0) -> bool:
        """Whether a navigable cell lies within `extent` metres horizontally (and the point near the floor)."""
        if abs(p[1]) > 4.0:
            return False
        return bool((((self._centres - (p[0], p[2])) ** 2).sum(1) <= extent ** 2).any())

    def snap_point(self, point) -> np.ndarray:
        i, k = self._cell(point)
        return np.array([self.bounds[0] + (i + 0.5) * self.CELL, 0.0, self.bounds[1] + (k + 0.5) * self.CELL],
                        dtype=np.float32)

    def _line_free(self, a, b) -> bool:
        n = max(2, int(math.dist((a[0], a[2]), (b[0], b[2])) / 0.025) + 1)
        t = np.linspace(0.0, 1.0, n)
        return bool(self._navigable_xz(a[0] + t * (b[0] - a[0]), a[2] + t * (b[2] - a[2])).all())

    def _field(self, goal: tuple[int, int]) -> np.ndarray:
        if goal not in self._fields:  # Dijkstra, 8-connected, from the goal cell
            dist = np.full(self._free.shape, np.inf)
            dist[goal] = 0.0
            heap = [(0.0, goal)]
            steps = [(di, dk, self.CELL * math.hypot(di, dk)) for di in (-1, 0, 1) for dk in (-1, 0, 1)
                     if di or dk]
            while heap:
                d, (i, k) = heapq.heappop(heap)
                if d > dist[i, k]:
                    continue
                for di, dk, c in steps:
                    ni, nk = i + di, k + dk
                    if 0 <= ni < self._nx and 0 <= nk < self._nz and self._free[ni, nk] and d + c < dist[ni, nk]:
                        dist[ni, nk] = d + c
                        heapq.heappush(heap, (d + c, (ni, nk)))
            self._fields[goal] = dist
        return self._fields[goal]

    def find_path(self, path: ShortestPath) -> bool:
        a = np.asarray(path.requested_start, dtype=np.float64)
        b = np.asarray(path.requested_end, dtype=np.float64)
        if self.is_navigable(a) and self.is_navigable(b) and self._line_free(a, b):
            path.geodesic_distance = float(math.dist((a[0], a[2]), (b[0], b[2])))
            path.points = [a.astype(np.float32), b.astype(np.float32)]
            return True
        if not (self._near_navmesh(a) and self._near_navmesh(b)):  # detour's nearest-poly search finds nothing
            path.geodesic_distance = math.inf
            path.points = []
            return False
        ca, cb = self._cell(a), self._cell(b)
        d = self._field(cb)[ca]
        if not np.isfinite(d):
            path.geodesic_distance = math.inf
            path.points = []
            return False
        sa, sb = self.snap_point(a), self.snap_point(b)
        d += math.dist((a[0], a[2]), (sa[0], sa[2])) + math.dist((b[0], b[2]), (sb[0], sb[2]))
        path.geodesic_distance = float(d)
        path.points = [a.astype(np.float32), b.astype(np.float32)]
        return True


class Agent:
    def __init__(self, config: AgentConfiguration, pathfinder: PathFinder, allow_sliding: bool) -> None:
        self.agent_config = config
        self._pf, self._slide = pathfinder, allow_sliding
        self._position = np.zeros(3)
        self._yaw = 0.0
        self.initial_state: AgentState | None = None

    def get_state(self) -> AgentState:
        return AgentState(position=self._position.copy(),
                          rotation=quaternion(math.cos(self._yaw / 2), 0.0, math.sin(self._yaw / 2), 0.0))

    def set_state(self, state: AgentState, reset_sensors: bool = True, infer_sensor_states: bool = True,
                  is_initial: bool = False) -> None:
        position = np.asarray(state.position, dtype=np.float64).reshape(3)
        if not np.isfinite(position).all():
            raise ValueError(f"position must be finite, got {position}")
        rotation = state.rotation
        if isinstance(rotation, (list, tuple, np.ndarray)):
            rotation = quat_from_coeffs(rotation)
        norm = math.sqrt(rotation.w ** 2 + rotation.x ** 2 + rotation.y ** 2 + rotation.z ** 2)
        if abs(norm - 1.0) > 1e-4:
            raise ValueError(f"rotation must be a unit quaternion, norm {norm}")
        self._position, self._yaw = position, _yaw(rotation)
        if is_initial:
            self.initial_state = AgentState(position=position.copy(), rotation=rotation)

    def act(self, action_id) -> bool:
        assert action_id in self.agent_config.action_space, f"No action {action_id} in action space"
        spec = self.agent_config.action_space[action_id]
        amount = spec.actuation.amount if spec.actuation is not None else 0.0
        if spec.name == "turn_left":
            self._yaw += math.radians(amount)
        elif spec.name == "turn_right":
            self._yaw -= math.radians(amount)
        elif spec.name in ("move_forward", "move_backward"):
            sign = 1.0 if spec.name == "move_forward" else -1.0
            step = sign * amount * np.array([-math.sin(self._yaw), 0.0, -math.cos(self._yaw)])
            target = self._position + step
            if self._pf.is_navigable(target):
                self._position = target
                return False
            if self._slide:  # slide along the obstacle: keep the larger axis-aligned part that is free
                for part in sorted((np.array([step[0], 0, 0]), np.array([0, 0, step[2]])),
                                   key=lambda v: -np.abs(v).sum()):
                    if self._pf.is_navigable(self._position + part):
                        self._position = self._position + part
                        break
            return True
        else:
            raise KeyError(f"test double: action {spec.name!r} is not implemented")
        return False


class Simulator:
    def __init__(self, config: Configuration) -> None:
        sim_cfg = config.sim_cfg
        if sim_cfg.scene_id not in SCENES:
            raise RuntimeError(f"test double: scene {sim_cfg.scene_id!r} not found; known: {sorted(SCENES)}")
        if sim_cfg.create_renderer and sim_cfg.gpu_device_id not in (-1, 0):  # the double has one EGL device
            raise RuntimeError(f"unable to find CUDA device {sim_cfg.gpu_device_id} among 1 EGL devices in total")
        self.config = config
        radius = config.agents[0].radius if config.agents else 0.1
        self.pathfinder = PathFinder(SCENES[sim_cfg.scene_id], radius)
        self.agents = [Agent(a, self.pathfinder, sim_cfg.allow_sliding) for a in config.agents]
        uuids = [s.uuid for a in config.agents for s in a.sensor_specifications]
        if len(set(uuids)) != len(uuids):
            raise AssertionError(f"Error, duplicate sensor uuids {uuids}")
        self._plan = SCENES[sim_cfg.scene_id]
        self._closed = False
        self.seed(sim_cfg.random_seed)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def seed(self, new_seed: int) -> None:
        self._rng = np.random.default_rng(int(new_seed))
        self.pathfinder.seed(new_seed)

    def get_agent(self, agent_id: int) -> Agent:
        return self.agents[agent_id]

    def initialize_agent(self, agent_id: int, initial_state: AgentState | None = None) -> Agent:
        agent = self.agents[agent_id]
        if initial_state is None:
            position = self.pathfinder.get_random_navigable_point()
            yaw = float(self._rng.uniform(0, 2 * math.pi))
            initial_state = AgentState(position=position, rotation=[0, math.sin(yaw / 2), 0, math.cos(yaw / 2)])
        agent.set_state(initial_state, is_initial=True)
        return agent

    def reset(self, agent_ids=None):
        for agent in self.agents:
            if agent.initial_state is None:
                raise RuntimeError("reset called before agent was given an initial state")
            agent.set_state(agent.initial_state)
        return self.get_sensor_observations()

    def step(self, action, dt: float = 1.0 / 60.0):
        self._check_open()
        collided = self.agents[0].act(action)
        observations = self.get_sensor_observations()
        observations["collided"] = collided
        return observations

    def get_sensor_observations(self, agent_ids=0) -> dict[str, np.ndarray]:
        self._check_open()
        agent = self.agents[agent_ids]
        return {spec.uuid: self._render(agent, spec) for spec in agent.agent_config.sensor_specifications}

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("test double: the simulator was closed")

    def _render(self, agent: Agent, spec: CameraSensorSpec) -> np.ndarray:
        h, w = int(spec.resolution[0]), int(spec.resolution[1])
        hfov = math.radians(float(spec.hfov))
        eye_h = float(spec.position[1])
        # Column rays, left to right; planar depth of the first wall hit (a pinhole camera's z-depth).
        offsets = hfov / 2 - (np.arange(w) + 0.5) / w * hfov  # (W,)
        angles = agent._yaw + offsets
        t = np.arange(1, 241) * 0.05  # (S,) up to 12 m
        px = agent._position[0] - np.sin(angles)[:, None] * t  # (W, S)
        pz = agent._position[2] - np.cos(angles)[:, None] * t
        x0, z0, x1, z1 = self._plan["bounds"] if self._plan else (-1e3, -1e3, 1e3, 1e3)
        hit = (px <= x0) | (px >= x1) | (pz <= z0) | (pz >= z1)
        surface = np.where(hit, 1, 0)
        boxes = self.pathfinder.boxes if self._plan else np.zeros((0, 4))
        for b, (bx0, bz0, bx1, bz1) in enumerate(boxes):
            inside = (px >= bx0) & (px <= bx1) & (pz >= bz0) & (pz <= bz1)
            surface = np.where(inside & ~hit, 2 + b, surface)
            hit |= inside
        first = np.where(hit.any(1), hit.argmax(1), len(t) - 1)  # (W,)
        wall_depth = t[first] * np.cos(offsets)  # (W,)
        wall_id = surface[np.arange(w), first]
        vfov = 2 * math.atan(math.tan(hfov / 2) * h / w)
        rows = (np.arange(h) + 0.5) / h * vfov - vfov / 2  # (H,) angle below the horizon
        tan_r = np.tan(rows)[:, None]  # (H, 1)
        floor_depth = np.where(tan_r > 1e-6, eye_h / np.maximum(tan_r, 1e-6), np.inf)  # (H, 1)
        ceil_depth = np.where(tan_r < -1e-6, (2.5 - eye_h) / np.maximum(-tan_r, 1e-6), np.inf)
        depth = np.minimum(np.minimum(floor_depth, ceil_depth), wall_depth[None, :]).astype(np.float32)  # (H, W)
        if spec.sensor_type == SensorType.DEPTH:
            return depth
        if spec.sensor_type == SensorType.SEMANTIC:
            return np.where(depth >= wall_depth[None, :] - 1e-6, wall_id[None, :], 0).astype(np.uint32)
        palette = np.array([(120, 110, 100), (200, 190, 170), (150, 60, 50), (60, 90, 160), (60, 140, 80),
                            (170, 150, 60)], dtype=np.float32)
        colour = palette[np.minimum(wall_id, len(palette) - 1)][None, :, :].repeat(h, 0)  # (H, W, 3)
        is_wall = depth >= wall_depth[None, :] - 1e-6
        colour = np.where(is_wall[..., None], colour, np.where((tan_r > 0)[..., None], palette[0], (230, 230, 230)))
        shade = np.clip(1.2 - depth / 10.0, 0.3, 1.0)[..., None]
        rgba = np.empty((h, w, 4), dtype=np.uint8)
        rgba[..., :3] = np.clip(colour * shade, 0, 255).astype(np.uint8)
        rgba[..., 3] = 255
        return rgba

    def close(self, destroy: bool = True) -> None:
        self._closed = True


# habitat_sim.agent and habitat_sim.utils.common, as namespaces.
agent = types.SimpleNamespace(ActionSpec=ActionSpec, ActuationSpec=ActuationSpec, AgentConfiguration=AgentConfiguration,
                              AgentState=AgentState, Agent=Agent)
utils = types.SimpleNamespace(common=types.SimpleNamespace(quat_from_coeffs=quat_from_coeffs))
