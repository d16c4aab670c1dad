"""aegis/overrides.py: every override form sweep tools send, parsed to the same dict with literal values."""
import json

import pytest

from aegis.errors import ConfigError
from aegis.overrides import flatten, format_value, parse_override_tokens, parse_value


@pytest.mark.parametrize("text, value", [
    ("1e-4", 1e-4), ("16", 16), ("[1,2]", [1, 2]), ("(0.5, 1.0)", (0.5, 1.0)), ("true", True), ("False", False),
    ("None", None), ("null", None), ("flood", "flood"), ("data/pairs.json", "data/pairs.json"), ("'16'", "16"),
    ('{"a": 1}', {"a": 1}),
])
def test_values_parse_as_literals(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("value", [1e-05, 5e-4, 16, [1, 2], "flood", True, None, "16", "a=b", (0.5, 1.0)])
def test_format_value_round_trips(value):
    assert parse_value(format_value(value)) == value


def test_all_command_line_forms_give_one_dict(tmp_path):
    json_file = tmp_path / "config-run.json"
    json_file.write_text(json.dumps({"num_query_tokens": 32, "model": {"connector": {"depth": 4}}}))
    overrides = parse_override_tokens(["--learning_rate=1e-4", "train_cfg.max_epochs=2", "--seed_offset", "3",
                                       str(json_file)])
    assert overrides == {"learning_rate": 1e-4, "train_cfg.max_epochs": 2, "seed_offset": 3, "num_query_tokens": 32,
                         "model.connector.depth": 4}


def test_flatten_keeps_component_dicts_whole():
    assert flatten({"model": {"connector": {"type": "QFormer", "depth": 2}}, "a.b": 1}) == \
        {"model.connector": {"type": "QFormer", "depth": 2}, "a.b": 1}


def test_bad_tokens_say_what_was_expected(tmp_path):
    with pytest.raises(ConfigError, match="unexpected argument 'stray': expected KEY=VALUE"):
        parse_override_tokens(["stray"])
    with pytest.raises(ConfigError, match="an override needs a value, e.g. --lr=1e-4"):
        parse_override_tokens(["--lr"])
    with pytest.raises(ConfigError, match="does not exist"):
        parse_override_tokens([str(tmp_path / "missing.json")])
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        parse_override_tokens([str(tmp_path / "list.json")])
