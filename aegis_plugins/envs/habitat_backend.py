"""The narrow interface between HabitatNavEnv and habitat-sim (Savva et al., "Habitat: A Platform for Embodied AI
Research", ICCV 2019; Szot et al., "Habitat 2.0", NeurIPS 2021).

Everything AEGIS needs from the simulator goes through :class:`HabitatSimBackend`, which uses only the public API
that is the same in habitat-sim 0.2.5 to 0.3.3: ``Configuration``, ``SimulatorConfiguration``,
``agent.AgentConfiguration`` with ``CameraSensorSpec`` sensors and the default action space, ``Simulator.step``,
``initialize_agent``, ``get_sensor_observations`` and the ``pathfinder`` (random navigable points, ``find_path``
with a ``ShortestPath``). No underscore attribute is touched. The simulator module is imported by name when the
backend is built (``habitat_sim`` by default), so the same code runs against the real simulator and against the test
double in ``tests/aegis_plugins/envs/habitat_sim_double.py``.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

import numpy as np

from aegis.errors import ConfigError, MissingDependencyError

__all__ = ["HabitatSimBackend", "NavStep", "INSTALL_HINT", "SUPPORTED_VERSIONS", "import_habitat_sim", "habitat_checks"]

SUPPORTED_VERSIONS = ("0.2.5", "0.3.3")
INSTALL_HINT = (
    "habitat-sim is not installed (it is not on PyPI for this Python; it ships through conda). On Python 3.10-3.12:\n"
    "    conda install habitat-sim withbullet headless -c conda-forge -c aihabitat-nightly\n"
    "(drop `headless` on a machine with a display; the stable channel `-c aihabitat`, habitat-sim=0.3.3, has Python "
    "3.9 builds only), then `pip install 'aegis[habitat]'`"
    " for the rest and check with `aegis doctor`. A test scene: `python -m habitat_sim.utils.datasets_download "
    "--uids habitat_test_scenes --data-path data/`. See docs/habitat.md."
)


def import_habitat_sim(module: str = "habitat_sim"):
    """Import the habitat-sim module (or a module with the same API) by name, with an install hint if missing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if module == "habitat_sim" or exc.name == module:
            raise MissingDependencyError(f"HabitatNavEnv needs the module {module!r}: {INSTALL_HINT}") from None
        raise


def _degrees(value: float):
    """habitat-sim's camera `hfov` is a magnum angle; magnum ships inside habitat-sim (PyPI's `magnum` is unrelated)."""
    try:
        import magnum
        return magnum.Deg(float(value))
    except (ImportError, AttributeError):  # a simulator without magnum (the test double) takes plain degrees
        return float(value)


@dataclass
class NavStep:
    """What one simulator call returns: sensor observations keyed by name, the agent pose and a collision flag.

    rgb is (H, W, 3) uint8 (the simulator's alpha channel dropped), depth (H, W) float32 metres or None,
    position (3,) float metres (y up), yaw radians about +y (0 faces -z, turning left increases it).
    """
    rgb: np.ndarray
    depth: np.ndarray | None
    position: np.ndarray
    yaw: float
    collided: bool


class HabitatSimBackend:
    """One habitat-sim Simulator with an RGB (and optionally depth) camera on agent 0 and the nav action space.

    `resolution` is (H, W). Actions are the simulator's action-space keys: move_forward (`forward_step` metres),
    turn_left / turn_right (`turn_angle` degrees). Distances are geodesic through the scene's navmesh; `inf` when
    no path exists.
    """

    RGB_UUID, DEPTH_UUID = "rgb", "depth"

    def __init__(self, scene: str, resolution: tuple[int, int] = (64, 64), depth: bool = True,
                 sensor_height: float = 1.25, hfov: float = 90.0, agent_height: float = 1.5,
                 agent_radius: float = 0.1, forward_step: float = 0.25, turn_angle: float = 10.0,
                 gpu_device_id: int = 0, enable_physics: bool = False, allow_sliding: bool = True,
                 scene_dataset_config_file: str = "default", seed: int = 0,
                 sim_module: str = "habitat_sim") -> None:
        hs = import_habitat_sim(sim_module)
        self.hs = hs
        self.version = str(getattr(hs, "__version__", "unknown"))
        sim_cfg = hs.SimulatorConfiguration()
        sim_cfg.scene_id = scene
        sim_cfg.scene_dataset_config_file = scene_dataset_config_file
        sim_cfg.enable_physics = enable_physics
        sim_cfg.gpu_device_id = gpu_device_id
        sim_cfg.random_seed = seed
        sim_cfg.allow_sliding = allow_sliding

        sensors = [self._camera(hs, self.RGB_UUID, hs.SensorType.COLOR, resolution, sensor_height, hfov)]
        if depth:
            sensors.append(self._camera(hs, self.DEPTH_UUID, hs.SensorType.DEPTH, resolution, sensor_height, hfov))
        actions = {
            "move_forward": hs.agent.ActionSpec("move_forward", hs.agent.ActuationSpec(amount=forward_step)),
            "turn_left": hs.agent.ActionSpec("turn_left", hs.agent.ActuationSpec(amount=turn_angle)),
            "turn_right": hs.agent.ActionSpec("turn_right", hs.agent.ActuationSpec(amount=turn_angle)),
        }
        agent_cfg = hs.agent.AgentConfiguration(height=agent_height, radius=agent_radius,
                                                sensor_specifications=sensors, action_space=actions)
        try:
            self.sim = hs.Simulator(hs.Configuration(sim_cfg, [agent_cfg]))
        except Exception as exc:
            if "EGL" in str(exc) or "CUDA device" in str(exc):
                raise MissingDependencyError(
                    f"HabitatNavEnv: habitat-sim could not create a headless renderer on gpu_device_id="
                    f"{gpu_device_id}: {exc}. It needs an NVIDIA GPU with EGL drivers; pick the GPU with "
                    "gpu_device_id (-1 is an unsupported fallback, habitat-sim issue #2554). `aegis doctor` shows "
                    "what this machine has.") from exc
            raise
        if not self.sim.pathfinder.is_loaded:
            self.sim.close()
            raise ConfigError(f"HabitatNavEnv: scene={scene!r} has no navmesh, so PointNav cannot sample start and "
                              "goal points. Use a scene that ships a .navmesh next to it (the habitat test scenes "
                              "do), or recompute one (SimulatorConfiguration.navmesh_settings).")
        self.depth = depth
        self.seed(seed)

    @staticmethod
    def _camera(hs, uuid: str, sensor_type, resolution: tuple[int, int], height: float, hfov: float):
        spec = hs.CameraSensorSpec()
        spec.uuid = uuid
        spec.sensor_type = sensor_type
        spec.sensor_subtype = hs.SensorSubType.PINHOLE
        spec.resolution = [int(resolution[0]), int(resolution[1])]  # [H, W]
        spec.position = [0.0, float(height), 0.0]
        spec.hfov = _degrees(hfov)
        return spec

    # ---------------------------------------------------------------- navmesh
    def seed(self, seed: int) -> None:
        self.sim.seed(int(seed))

    def random_navigable_point(self) -> np.ndarray:
        return np.array(self.sim.pathfinder.get_random_navigable_point(), dtype=np.float64).reshape(3)

    def geodesic_distance(self, start: np.ndarray, end: np.ndarray) -> float:
        path = self.hs.ShortestPath()
        path.requested_start = np.asarray(start, dtype=np.float32)
        path.requested_end = np.asarray(end, dtype=np.float32)
        found = self.sim.pathfinder.find_path(path)
        distance = float(path.geodesic_distance)
        return distance if found and math.isfinite(distance) else math.inf

    # ---------------------------------------------------------------- agent
    def place_agent(self, position: np.ndarray, yaw: float) -> NavStep:
        """Put agent 0 at `position` facing `yaw` and return what it sees."""
        state = self.hs.agent.AgentState()
        state.position = np.asarray(position, dtype=np.float32)
        state.rotation = np.array([0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2)])  # (x, y, z, w) about +y
        self.sim.initialize_agent(0, state)
        return self._pack(self.sim.get_sensor_observations(), collided=False)

    def act(self, action: str) -> NavStep:
        """Run one action of the action space ('move_forward', 'turn_left', 'turn_right')."""
        observations = self.sim.step(action)
        return self._pack(observations, collided=bool(observations.get("collided", False)))

    def _pack(self, observations: dict, collided: bool) -> NavStep:
        state = self.sim.get_agent(0).get_state()
        rotation = state.rotation
        yaw = 2.0 * math.atan2(float(rotation.y), float(rotation.w))
        rgb = np.asarray(observations[self.RGB_UUID])[..., :3]  # (H, W, 4) RGBA -> (H, W, 3)
        depth = np.asarray(observations[self.DEPTH_UUID], dtype=np.float32) if self.depth else None
        return NavStep(rgb=np.ascontiguousarray(rgb, dtype=np.uint8), depth=depth,
                       position=np.array(state.position, dtype=np.float64).reshape(3),
                       yaw=math.atan2(math.sin(yaw), math.cos(yaw)), collided=collided)

    def close(self) -> None:
        if getattr(self, "sim", None) is not None:
            self.sim.close()
            self.sim = None


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def habitat_checks() -> list:
    """`aegis doctor` checks for HabitatNavEnv: habitat-sim installed in a supported version; headless rendering."""
    import ctypes.util
    import importlib.util

    from aegis.doctor import Check

    fix = "conda install habitat-sim withbullet headless -c conda-forge -c aihabitat-nightly  (docs/habitat.md)"
    if importlib.util.find_spec("habitat_sim") is None:
        checks = [Check("HabitatNavEnv: habitat-sim", False, "not installed; HabitatNavEnv cannot be built", fix)]
    else:
        try:
            version = str(getattr(importlib.import_module("habitat_sim"), "__version__", "unknown"))
        except Exception as exc:  # installed but broken (missing libraries, wrong Python)
            checks = [Check("HabitatNavEnv: habitat-sim", False, f"fails to import: {type(exc).__name__}: {exc}",
                            fix)]
        else:
            low, high = (_version_tuple(v) for v in SUPPORTED_VERSIONS)
            ok = low <= _version_tuple(version) <= high
            checks = [Check("HabitatNavEnv: habitat-sim", ok,
                            f"habitat_sim {version}" + ("" if ok else f" (tested range {SUPPORTED_VERSIONS[0]}-"
                                                                      f"{SUPPORTED_VERSIONS[1]})"),
                            "" if ok else fix)]
    egl = ctypes.util.find_library("EGL")
    cuda = False
    try:
        import torch
        cuda = torch.cuda.is_available()
    except Exception:
        pass
    if egl is None:
        checks.append(Check("HabitatNavEnv: headless rendering", False, "libEGL not found",
                            "apt-get install libegl1 libgl1 (habitat-sim's headless build renders through EGL)"))
    else:
        detail = f"{egl}; " + ("CUDA device found, use gpu_device_id=0" if cuda else
                               "no CUDA device: habitat-sim's EGL renderer needs one; gpu_device_id=-1 is an "
                               "unsupported fallback (habitat-sim issue #2554)")
        checks.append(Check("HabitatNavEnv: headless rendering", cuda, detail,
                            "" if cuda else "run HabitatNavEnv on a machine with an NVIDIA GPU and EGL drivers"))
    return checks
