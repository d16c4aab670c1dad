"""The errors AEGIS raises for bad input: each says what was wrong, where, what was expected and the nearest choice."""
from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AegisError",
    "ConfigError",
    "UnknownComponentError",
    "PluginError",
    "CheckpointError",
    "DataError",
    "MissingDependencyError",
    "closest",
]


class AegisError(Exception):
    """Base class of every error AEGIS raises on purpose."""


class ConfigError(AegisError, ValueError):
    """An experiment file or override holds a key or value the components cannot take."""


class UnknownComponentError(ConfigError, KeyError):
    """A `type` names nothing registered in the registry it must come from."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class PluginError(AegisError, RuntimeError):
    """A plugin failed to load, or two plugins claimed the same name."""


class CheckpointError(AegisError, RuntimeError):
    """A checkpoint is missing, truncated, corrupt or does not fit the model."""


class DataError(AegisError, ValueError):
    """A video or annotation entry cannot be used."""


class MissingDependencyError(AegisError, ImportError):
    """An optional dependency is needed by what the config asked for and is not installed."""


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The registered names nearest to `word` (case-insensitive), best first."""
    choices = list(choices)
    by_lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.5)
    return [by_lower[h] for h in hits]
