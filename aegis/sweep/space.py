"""The search space of a sweep: ``--grid`` arguments, sweep files, the points to validate and trial dir names.

A space maps a dotted config key (or the special key ``experiment``) to one :class:`Dimension`:

- ``grid=[v1, v2]``: every value is tried (Optuna's GridSampler; a categorical choice for random/tpe),
- ``choice=[v1, v2]``: a categorical choice (random/tpe only),
- ``uniform=[low, high]``, ``loguniform=[low, high]``: a float range,
- ``int=[low, high]``: an integer range, both ends included.

The sweep file format is documented in ``docs/sweeps.md``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, closest
from ..overrides import format_value, parse_value

__all__ = ["Dimension", "SweepSpec", "KINDS", "SAMPLERS", "PRUNERS", "parse_dimension", "parse_space",
           "parse_grid_argument", "split_top_level", "load_sweep_file", "validation_points", "trial_dir_name",
           "SWEEP_FILE_KEYS"]

KINDS = ("grid", "choice", "uniform", "loguniform", "int")
SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "halving")
SWEEP_FILE_KEYS = ("experiment", "metric", "direction", "sampler", "space", "cfg_options", "seeds", "trials",
                   "pruner", "name", "storage")
_PRIMITIVE = (str, int, float, bool, type(None))
MAX_PRODUCT_POINTS = 256  # above this, validation checks every value once instead of the full product


@dataclass
class Dimension:
    """One swept key: ``kind`` is one of :data:`KINDS`; ``values`` for grid/choice, ``low``/``high`` for ranges."""

    key: str
    kind: str
    values: list = field(default_factory=list)
    low: float | int | None = None
    high: float | int | None = None

    @property
    def categorical(self) -> bool:
        return self.kind in ("grid", "choice")

    def encoded(self) -> list:
        """The values as Optuna may store them (lists and dicts become their JSON text)."""
        return [v if isinstance(v, _PRIMITIVE) else json.dumps(v, sort_keys=True) for v in self.values]

    def distribution(self):
        """The Optuna distribution of this key."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.categorical:
            return CategoricalDistribution(self.encoded())
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high))
        return FloatDistribution(float(self.low), float(self.high), log=self.kind == "loguniform")

    def decode(self, param: Any) -> Any:
        """The config value of an Optuna parameter of this key."""
        if self.categorical:
            return self.values[self.encoded().index(param)]
        return param

    def candidates(self) -> list:
        """Values that validation tries: every listed value, or both ends of a range."""
        return list(self.values) if self.categorical else [self.low, self.high]

    def to_json(self) -> dict:
        """The stored form (sweep.json, study user attrs)."""
        if self.categorical:
            return {"kind": self.kind, "values": list(self.values)}
        return {"kind": self.kind, "low": self.low, "high": self.high}


@dataclass
class SweepSpec:
    """What a sweep runs: experiment(s), objective, space, fixed overrides, seeds, sampler, pruner, budget."""

    name: str
    experiment: str | None
    metric: str
    direction: str = "minimize"
    space: dict[str, Dimension] = field(default_factory=dict)
    cfg_options: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    sampler: str = "grid"
    pruner: str = "none"
    trials: int | None = None

    @property
    def experiments(self) -> list[str]:
        """Every experiment file a trial may run."""
        if "experiment" in self.space:
            return [str(v) for v in self.space["experiment"].values]
        return [self.experiment] if self.experiment else []

    @property
    def grid_size(self) -> int | None:
        """The number of points of a grid space (None if a key is a range)."""
        if not all(d.categorical for d in self.space.values()):
            return None
        return math.prod(len(d.values) for d in self.space.values())

    def definition(self) -> dict:
        """What must match between workers of one sweep (stored in the study's user attrs)."""
        return json.loads(json.dumps({
            "experiment": self.experiment, "metric": self.metric, "direction": self.direction,
            "space": {k: d.to_json() for k, d in self.space.items()}, "seeds": self.seeds,
            "cfg_options": self.cfg_options, "sampler": self.sampler, "pruner": self.pruner}, default=str))

    def to_dict(self) -> dict:
        """The definition plus name and trial budget: everything :meth:`from_dict` needs (sent to Slurm workers)."""
        return {"name": self.name, "trials": self.trials, **self.definition()}

    @classmethod
    def from_dict(cls, data: dict) -> "SweepSpec":
        """The spec back from :meth:`to_dict` (or from ``sweep.json``)."""
        return cls(name=data["name"], experiment=data.get("experiment"), metric=data["metric"],
                   direction=data.get("direction", "minimize"), space=parse_space(data.get("space") or {}, "sweep"),
                   cfg_options=dict(data.get("cfg_options") or {}), seeds=list(data.get("seeds") or []),
                   sampler=data.get("sampler", "grid"), pruner=data.get("pruner", "none"), trials=data.get("trials"))

    def overrides(self, point: dict[str, Any], seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """The experiment and the ``{dotted key: value}`` overrides of one point (and seed)."""
        point = dict(point)
        experiment = str(point.pop("experiment", self.experiment))
        overrides = {**self.cfg_options, **point}
        if seed is not None:
            overrides["randomness.seed"] = seed
        return experiment, overrides


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets and quotes: ``"[1,2],3,'a,b'"`` -> ``["[1,2]", "3", "'a,b'"]``."""
    parts, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_grid_argument(text: str) -> tuple[str, Dimension]:
    """``"optim_wrapper.optimizer.lr=1e-5,5e-5"`` -> the key and a grid :class:`Dimension` of parsed values."""
    key, sep, values = text.partition("=")
    key = key.strip().lstrip("-")
    if not sep or not key or not values.strip():
        raise ConfigError(f"--grid {text!r}: expected KEY=V1,V2,..., e.g. --grid optim_wrapper.optimizer.lr=1e-5,1e-4.")
    parsed = [parse_value(v) for v in split_top_level(values)]
    return key, parse_dimension(key, {"grid": parsed}, "--grid")


def parse_dimension(key: str, entry: Any, where: str) -> Dimension:
    """One space entry: ``dict(grid=[...])``, ``dict(uniform=[lo, hi])``, ..., or a bare list (a grid)."""
    if isinstance(entry, (list, tuple)):
        entry = {"grid": list(entry)}
    if isinstance(entry, dict) and "kind" in entry:  # the stored form, from sweep.json or the study
        kind = entry["kind"]
        entry = {kind: entry["values"] if kind in ("grid", "choice") else [entry["low"], entry["high"]]}
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(f"{where}: space.{key} = {entry!r}: expected one of "
                          + ", ".join(f"dict({k}=[...])" for k in KINDS) + ".")
    (kind, values), = entry.items()
    if kind not in KINDS:
        near = closest(kind, KINDS)
        raise ConfigError(f"{where}: space.{key}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}."
                          + (f" Did you mean {near[0]!r}?" if near else ""))
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"{where}: space.{key}.{kind}: expected a non-empty list, got {values!r}.")
    values = list(values)
    if kind in ("grid", "choice"):
        encoded = Dimension(key, kind, values).encoded()
        if len(set(map(repr, encoded))) != len(encoded):
            raise ConfigError(f"{where}: space.{key}.{kind} lists a value twice: {values!r}.")
        return Dimension(key, kind, values)
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{where}: space.{key}.{kind}: expected [low, high] numbers, got {values!r}.")
    low, high = values
    if kind == "int" and not all(isinstance(v, int) for v in values):
        raise ConfigError(f"{where}: space.{key}.int: expected integers [low, high], got {values!r}.")
    if not low < high:
        raise ConfigError(f"{where}: space.{key}.{kind}: low must be below high, got {values!r}.")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: space.{key}.loguniform: low must be > 0, got {values!r}.")
    return Dimension(key, kind, low=low, high=high)


def parse_space(space: Any, where: str) -> dict[str, Dimension]:
    """A whole ``space = dict(...)`` of a sweep file (or the stored form) as ``{key: Dimension}``."""
    if not isinstance(space, dict):
        raise ConfigError(f"{where}: space must be a dict of key=dict(grid=[...]) etc., got {type(space).__name__}.")
    dims = {str(k): parse_dimension(str(k), v, where) for k, v in space.items()}
    if "experiment" in dims:
        if not dims["experiment"].categorical:
            raise ConfigError(f"{where}: space.experiment must list experiment files with grid=[...] or choice=[...].")
        stems = [Path(str(e)).stem for e in dims["experiment"].values]
        if len(set(stems)) != len(stems):  # trial dirs are named by the stem
            raise ConfigError(f"{where}: space.experiment lists two files with the same name: {stems}.")
    return dims


def load_sweep_file(path: str | Path) -> dict[str, Any]:
    """Read a sweep file (a Python file like an experiment) into a dict of the keys in :data:`SWEEP_FILE_KEYS`.

    Unknown keys, a missing file or a file that does not load are a :class:`ConfigError` naming the file and key.
    """
    from mmengine.config import Config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Sweep file {str(path)!r} does not exist.")
    try:
        data = Config.fromfile(str(path), import_custom_modules=False).to_dict()
    except Exception as exc:  # a user's Python file may raise anything while it loads
        raise ConfigError(f"{path}: cannot be loaded as a sweep file: {type(exc).__name__}: {exc}") from exc
    for key in data:
        if key not in SWEEP_FILE_KEYS and not key.startswith("_"):
            near = closest(key, SWEEP_FILE_KEYS)
            raise ConfigError(f"{path}: unknown sweep file key {key!r}."
                              + (f" Did you mean {near[0]!r}?" if near else "")
                              + f" Known keys: {', '.join(SWEEP_FILE_KEYS)}.")
    data = {k: v for k, v in data.items() if not k.startswith("_")}
    if "space" in data:
        data["space"] = parse_space(data["space"], str(path))
    for key, kind in (("cfg_options", dict), ("seeds", list), ("experiment", str), ("metric", str)):
        if key in data and not isinstance(data[key], kind):
            raise ConfigError(f"{path}: {key} must be a {kind.__name__}, got {data[key]!r}.")
    if "cfg_options" in data:
        from ..overrides import flatten
        data["cfg_options"] = flatten(data["cfg_options"])
    return data


def validation_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The points checked before anything runs: the full product of every key's candidates, one per experiment.

    When the product has more than :data:`MAX_PRODUCT_POINTS` points, every candidate of every key is checked once
    (the other keys at their first candidate), for every experiment.
    """
    keys = [k for k in spec.space if k != "experiment"]
    choices = [spec.space[k].candidates() for k in keys]
    experiments = [{"experiment": e} for e in spec.space["experiment"].values] if "experiment" in spec.space else [{}]
    if math.prod(len(c) for c in choices) * len(experiments) <= MAX_PRODUCT_POINTS:
        combos = [dict(zip(keys, values)) for values in itertools.product(*choices)]
    else:
        base = {k: c[0] for k, c in zip(keys, choices)}
        combos = [base] + [{**base, k: v} for k, c in zip(keys, choices) for v in c[1:]]
    return [{**e, **c} for e in experiments for c in combos]


def _short_keys(keys: list[str]) -> dict[str, str]:
    """The shortest dotted suffix of each key that no other key shares: ``optim_wrapper.optimizer.lr`` -> ``lr``."""
    short = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            candidate = ".".join(parts[-n:])
            if all(other == key or not (other == candidate or other.endswith("." + candidate)) for other in keys):
                break
        short[key] = candidate
    return short


def _token(key: str, value: Any) -> str:
    return Path(str(value)).stem if key == "experiment" else format_value(value)


def trial_dir_name(point: dict[str, Any], seed: int | None = None, max_len: int = 120) -> str:
    """A short readable dir name for one run, unique and deterministic: ``lr=1e-05_num_query_tokens=16_seed=0``.

    Keys come in the point's order (the space's order), ``experiment`` first, as its file name without ``.py``. Keys are shortened to their last unique dotted part; characters outside ``[A-Za-z0-9.+=-]`` become ``-``. When
    that changed anything or the name is long, a hash of the exact overrides keeps names apart.
    """
    short = _short_keys(list(point))
    raw = "_".join(f"{short[k]}={_token(k, point[k])}" for k in sorted(point, key=lambda k: k != "experiment"))
    if seed is not None:
        raw = f"{raw}_seed={seed}" if raw else f"seed={seed}"
    raw = raw or "default"
    name = re.sub(r"[^A-Za-z0-9.+=_-]", "-", raw)
    exact = json.dumps({"point": point, "seed": seed}, sort_keys=True, default=str)
    if name != raw or len(name) > max_len:
        digest = hashlib.sha1(exact.encode()).hexdigest()[:8]
        name = f"{name[:max_len - 9]}-{digest}"
    return name
