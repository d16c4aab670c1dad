"""The plugin contract: every registered name keeps its family's contract, checked by ``aegis.testing`` — the same
checks a third-party plugin's tests run.

Each family lists its tiny configs in ``tests/aegis_plugins/<family>/tiny_configs.py`` as ``TINY = {name: dict(registry=...,
cfg=..., run=callable, expect_shape=..., expect=predicate on the output (optional), unused_parameters=...,
check_gradients=...)}``. A name registered by a built-in plugin with no tiny config fails here.
"""
import importlib.util
from pathlib import Path

import pytest

from aegis import plugins
from aegis.registry import COMPONENT_REGISTRIES
from aegis.testing import check_component, check_dataset, check_env

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


@pytest.mark.parametrize("registry,name", _builtin_components(), ids=lambda x: str(x))
def test_every_registered_component_has_a_tiny_config(registry, name):
    assert (registry, name) in TINY, (f"{registry} '{name}' is registered but has no entry in "
                                      f"tests/aegis_plugins/<family>/tiny_configs.py: every component ships with one")


@pytest.mark.parametrize("key", sorted(TINY), ids=lambda k: f"{k[0]}:{k[1]}")
def test_tiny_config_keeps_its_family_contract(key):
    """aegis.testing.check_component: contract members, finite output of the expected shape (and value, where
    `expect` is given), determinism under a seed, gradients to trainable parameters only, state-dict round trip."""
    case = TINY[key]
    check_component(case["cfg"], COMPONENT_REGISTRIES[case["registry"]], case["run"],
                    expect_shape=case.get("expect_shape"), expect=case.get("expect"),
                    unused_parameters=case.get("unused_parameters", ()),
                    check_gradients=case.get("check_gradients", True))


@pytest.mark.parametrize("name", sorted(n for (r, n) in TINY if r == "ENVS"))
def test_every_env_passes_check_env_and_replays_under_its_seed(name):
    check_env(TINY[("ENVS", name)]["cfg"])


@pytest.mark.parametrize("name", sorted(n for (r, n) in TINY if r == "DATASETS"))
def test_every_dataset_yields_its_declared_sample_keys_reproducibly(name):
    check_dataset(TINY[("DATASETS", name)]["cfg"])
