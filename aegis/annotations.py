"""Type markers a component's constructor can use so that validation checks more than keys.

``ExistingPath`` marks an argument naming a file or folder that must exist before the run starts
(a checkpoint, an annotation file); validation reports a missing one with its config key.
"""
from __future__ import annotations

from typing import Annotated

__all__ = ["ExistingPath", "MustExist"]


class MustExist:
    """Annotation metadata: the string value is a path that must exist when the config is validated."""

    def __repr__(self) -> str:
        return "MustExist()"


ExistingPath = Annotated[str, MustExist()]
