"""aegis_plugins/envs/disaster_config.py: the knobs of DisasterRescueEnv written once (a dataclass), its presets, its
checks, and the env constructor's typed keyword arguments generated from it."""
from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from aegis.build import build_component, constructor_parameters
from aegis.errors import ConfigError
from aegis.registry import ENVS
from aegis_plugins.envs.disaster import DisasterRescueEnv
from aegis_plugins.envs.disaster_config import PRESETS, DisasterConfig

KNOBS = [f.name for f in dataclasses.fields(DisasterConfig)]  # the one list of knob names
DOCS = Path(__file__).parents[3] / "docs" / "envs.md"


def test_every_knob_is_a_typed_keyword_of_the_env_constructor():
    """What validation and `aegis plugins` read: each field, with its type or None, defaulting to None (the preset)."""
    params, takes_var_kwargs, hints = constructor_parameters(DisasterRescueEnv)
    assert not takes_var_kwargs  # unknown keys stay errors
    assert list(params) == ["preset", *KNOBS, "obs_size", "state_obs", "render_mode"]
    field_types = typing.get_type_hints(DisasterConfig)
    for name in KNOBS:
        assert params[name].default is None
        assert hints[name] == field_types[name] | None, name


def test_every_knob_is_accepted_by_the_env_and_lands_in_its_config():
    """Each knob, set to the `hard` value through the registry (validated key by key), overrides the `easy` preset."""
    hard = PRESETS["hard"]
    for name in KNOBS:
        value = getattr(hard, name)
        overrides = {name: value}
        if name == "num_victims":  # 3 victims need a grid that fits them
            overrides["grid_size"] = hard.grid_size
        env = build_component(dict(type="DisasterRescueEnv", preset="easy", **overrides), ENVS, "env")
        assert getattr(env.config, name) == value, name
        expected = dataclasses.replace(PRESETS["easy"], **overrides)
        assert env.config == expected, name  # and nothing else moved


def test_all_knobs_at_once_equal_the_preset():
    env = DisasterRescueEnv(preset="easy", **dataclasses.asdict(PRESETS["hard"]))
    assert env.config == PRESETS["hard"]
    assert DisasterRescueEnv(preset="hard").config == PRESETS["hard"]


def test_numbers_are_coerced_to_the_knob_type():
    cfg = DisasterConfig(p_spread=1, grid_size=8.0)
    assert type(cfg.p_spread) is float and type(cfg.grid_size) is int
    with pytest.raises(ConfigError, match="grid_size='big' is invalid; expected a number"):
        DisasterConfig(grid_size="big")


def test_presets_are_the_documented_table():
    """docs/envs.md's preset table is the presets, value for value."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        match = re.match(r"\| `(\w+)` \| (.+?) \| (.+?) \| (.+?) \|$", line)
        if match:
            rows[match[1]] = match.groups()[1:]
    assert sorted(rows) == sorted(KNOBS)
    for i, preset in enumerate(("easy", "medium", "hard")):
        for name in KNOBS:
            assert str(getattr(PRESETS[preset], name)) == rows[name][i], (preset, name)


def test_bad_values_name_the_knob_and_what_was_expected():
    with pytest.raises(ConfigError, match="Did you mean 'medium'"):
        DisasterRescueEnv(preset="meduim")
    with pytest.raises(ConfigError, match="view='top'.*'global' or 'egocentric'"):
        DisasterRescueEnv(view="top")
    with pytest.raises(ConfigError, match="do not fit"):
        DisasterRescueEnv(grid_size=5, num_victims=4)
    with pytest.raises(ConfigError, match=r"deep_depth=4 is invalid; expected an int in \[1, max_depth=3\]"):
        DisasterConfig(deep_depth=4)
    with pytest.raises(ConfigError, match="view_size=4 is invalid; expected an odd int >= 3"):
        dataclasses.replace(PRESETS["hard"], view_size=4)
    with pytest.raises(ConfigError, match="obs_size=4 is invalid; expected at least 8 pixels"):
        DisasterRescueEnv(obs_size=4)


def test_misspelt_knob_suggests_the_right_one_in_python_and_in_a_config():
    with pytest.raises(ConfigError, match="unknown argument 'grid_sise'. Did you mean 'grid_size'"):
        DisasterRescueEnv(grid_sise=6)
    with pytest.raises(ConfigError, match="env: DisasterRescueEnv got unknown argument 'grid_sise'.*'grid_size'"):
        build_component(dict(type="DisasterRescueEnv", grid_sise=6), ENVS, "env")
    with pytest.raises(ConfigError, match=r"env.view='top'.*'global', 'egocentric'"):  # the Literal type, before
        build_component(dict(type="DisasterRescueEnv", view="top"), ENVS, "env")  # anything is built
