"""Config overrides in every form a person or a sweep tool writes them, parsed into one ``{dotted key: value}`` dict.

Forms (W&B's sweep macros in brackets, see ``docs/experiments.md``):

- ``a.b=v`` after the experiment or after ``--cfg-options`` (``${args_no_hyphens}``, mmengine's form),
- ``--a.b=v`` and ``--a.b v`` (``${args}``, ``${args_no_equals}``),
- a ``.json`` file holding ``{"a.b": v, ...}`` or nested dicts (``${args_json_file}``).

Values parse as literals: ``1e-4`` a float, ``16`` an int, ``[1,2]`` a list, ``(1,2)`` a tuple, ``true``/``false``/
``True``/``False`` booleans, ``None``/``null``; anything else stays a string.
"""
from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path
from typing import Any

from .errors import ConfigError, relative_path_note

__all__ = ["parse_value", "format_value", "parse_override_tokens", "read_overrides_file", "flatten",
           "OverridesAction"]

_JSON_WORDS = {"true": True, "false": False, "null": None, "none": None}


def parse_value(text: str) -> Any:
    """``"1e-4"`` -> 1e-4, ``"16"`` -> 16, ``"[1,2]"`` -> [1, 2], ``"true"`` -> True, ``"None"`` -> None; else the
    text itself."""
    stripped = text.strip()
    if stripped.lower() in _JSON_WORDS:
        return _JSON_WORDS[stripped.lower()]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(stripped)
    except ValueError:
        return text


def format_value(value: Any) -> str:
    """The token text that :func:`parse_value` turns back into ``value`` (``1e-05``, ``[1, 2]``, ``flood``)."""
    if isinstance(value, str) and parse_value(value) == value and "=" not in value:
        return value
    return repr(value)


def flatten(nested: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c.d": 2}`` -> ``{"a.b": 1, "c.d": 2}`` (a dict holding ``type`` stays one value)."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and "type" not in value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_overrides_file(path: str | Path) -> dict[str, Any]:
    """The overrides in a JSON file (``{"a.b": v}`` or nested), e.g. the file W&B writes for ``${args_json_file}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"overrides file {str(path)!r} does not exist.{relative_path_note(path)}") from exc
    except ValueError as exc:
        raise ConfigError(f"overrides file {path}: not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"overrides file {path}: expected a JSON object of key: value, got {type(data).__name__}.")
    return flatten(data)


def _split_assignment(token: str, where: str) -> tuple[str, str]:
    key, sep, value = token.partition("=")
    if not sep or not key:
        raise ConfigError(f"{where} {token!r}: expected KEY=VALUE, e.g. optim_wrapper.optimizer.lr=1e-4.")
    return key, value


def parse_override_tokens(tokens: list[str]) -> dict[str, Any]:
    """Turn the extra command-line tokens of ``tools/run.py`` into overrides (later tokens win).

    Accepts ``a.b=v``, ``--a.b=v``, ``--a.b v`` and paths of ``.json`` override files; anything else is a
    :class:`ConfigError` saying which token and what was expected.
    """
    overrides: dict[str, Any] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.startswith("--"):
            body = token[2:]
            if "=" in body:
                key, value = _split_assignment(body, "override")
            elif index < len(tokens) and not tokens[index].startswith("--"):
                key, value = body, tokens[index]
                index += 1
            else:
                raise ConfigError(f"unknown option {token!r}: an override needs a value, e.g. {token}=1e-4 "
                                  "(see --help for the options of tools/run.py).")
            overrides[key] = parse_value(value)
        elif token.endswith(".json") and "=" not in token:
            overrides.update(read_overrides_file(token))
        elif "=" in token:
            key, value = _split_assignment(token, "override")
            overrides[key] = parse_value(value)
        else:
            raise ConfigError(f"unexpected argument {token!r}: expected KEY=VALUE, --KEY=VALUE or a .json file of "
                              "overrides after the experiment file.")
    return overrides


class OverridesAction(argparse.Action):
    """``--cfg-options a.b=1 c=[1,2]``: each ``KEY=VALUE`` parsed with :func:`parse_value` into one dict."""

    def __call__(self, parser, namespace, values, option_string=None):
        merged = dict(getattr(namespace, self.dest, None) or {})
        for token in values:
            if token.endswith(".json") and "=" not in token:
                merged.update(read_overrides_file(token))
                continue
            key, value = _split_assignment(token, option_string or "override")
            merged[key] = parse_value(value)
        setattr(namespace, self.dest, merged)
