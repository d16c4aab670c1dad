"""The errors AEGIS raises for bad input: each says what was wrong, where, what was expected and the nearest choice."""
from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "AegisError",
    "ConfigError",
    "UnknownComponentError",
    "MissingInputsError",
    "PluginError",
    "CheckpointError",
    "DataError",
    "MissingDependencyError",
    "closest",
    "relative_path_note",
]


class AegisError(Exception):
    """Base class of every error AEGIS raises on purpose."""


class ConfigError(AegisError, ValueError):
    """An experiment file or override holds a key or value the components cannot take."""


class UnknownComponentError(ConfigError, KeyError):
    """A `type` names nothing registered in the registry it must come from."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class MissingInputsError(ConfigError):
    """What a run needs and this machine lacks (files, weights, packages, a GPU), all of it, before anything runs.

    ``problems`` holds one message per missing input, each starting with its config path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        text = problems[0] if len(problems) == 1 else (f"{len(problems)} inputs this run needs are missing:\n"
                                                       + "\n".join(problems))
        super().__init__(text)


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


def relative_path_note(path: str | os.PathLike, near: str | os.PathLike | None = None) -> str:
    """For a relative ``path`` that does not exist, a sentence saying that relative paths resolve against the working
    directory, and which one; else ``""``. Appended to errors about missing files, checkpoints and work dirs.

    With ``near`` (the experiment file), a folder above it that does hold ``path`` is named as the place to run from;
    when ``near`` lies under the working directory and no such folder exists, nothing is added (the run is in the
    experiment's own tree, so the path is simply missing).
    """
    if os.path.isabs(path) or os.path.exists(path):
        return ""
    note = f" Relative paths resolve against the working directory, here {os.getcwd()}"
    if near is not None:
        near = Path(near).resolve()
        for folder in near.parents:
            if (folder / path).exists():
                return f"{note}; {folder / path} exists: run from {folder} or give an absolute path."
        if near.is_relative_to(Path.cwd().resolve()):
            return ""
    return f"{note}: run from the folder that holds it or give an absolute path."
