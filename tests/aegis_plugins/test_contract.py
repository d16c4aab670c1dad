"""The plugin contract: every registered name builds from its tiny config, runs, and gives finite, well-shaped output.

Each family lists its tiny configs in ``tests/aegis_plugins/<family>/tiny_configs.py`` as ``TINY = {name: dict(registry=...,
cfg=..., run=callable, expect_shape=...)}``. A name registered by a built-in plugin with no tiny config fails here.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from aegis import plugins
from aegis.build import build_component
from aegis.registry import COMPONENT_REGISTRIES

HERE = Path(__file__).parent


def _load_tiny_configs() -> dict:
    cases = {}
    for path in sorted(HERE.glob("*/tiny_configs.py")):
        spec = importlib.util.spec_from_file_location(f"tiny_configs_{path.parent.name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, case in module.TINY.items():
            cases[(case["registry"], name)] = case
    return cases


TINY = _load_tiny_configs()


def _builtin_components():
    return sorted((info.registry, info.name) for info in plugins.load().components.values()
                  if info.distribution == "aegis" and info.plugin != "aegis.core")


def _tensors(output):
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, np.ndarray):
        yield torch.from_numpy(np.asarray(output, dtype=np.float64))
    elif isinstance(output, dict):
        for value in output.values():
            yield from _tensors(value)
    elif isinstance(output, (list, tuple)):
        for value in output:
            yield from _tensors(value)


@pytest.mark.parametrize("registry,name", _builtin_components(), ids=lambda x: str(x))
def test_every_registered_component_has_a_tiny_config(registry, name):
    assert (registry, name) in TINY, (f"{registry} '{name}' is registered but has no entry in "
                                      f"tests/aegis_plugins/<family>/tiny_configs.py: every component ships with one")


@pytest.mark.parametrize("key", sorted(TINY), ids=lambda k: f"{k[0]}:{k[1]}")
def test_tiny_config_builds_runs_and_is_finite(key):
    case = TINY[key]
    torch.manual_seed(0)
    component = build_component(case["cfg"], COMPONENT_REGISTRIES[case["registry"]], f"tiny[{key[1]}]")
    output = case["run"](component)
    tensors = list(_tensors(output))
    for tensor in tensors:
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), f"{key[1]} produced NaN or inf"
    if case.get("expect_shape") is not None:
        assert tensors, f"{key[1]} returned no tensor to check the shape of"
        assert tuple(tensors[0].shape) == tuple(case["expect_shape"])
