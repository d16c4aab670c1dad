"""Type markers a component's constructor can use so that validation checks more than keys.

``ExistingPath`` marks an argument naming a file or folder that must exist before the run starts
(a checkpoint, an annotation file); validation reports a missing one with its config key.
``Component[Contract]`` marks an argument that takes a sub-component's config: its family (registry) and the
arguments its parent injects come from the contract (``aegis.contracts``).
"""
from __future__ import annotations

from typing import Annotated

__all__ = ["Component", "ExistingPath", "FamilyOf", "MustExist"]


class MustExist:
    """Annotation metadata: the string value is a path that must exist when the config is validated."""

    def __repr__(self) -> str:
        return "MustExist()"


ExistingPath = Annotated[str, MustExist()]


class FamilyOf:
    """Annotation metadata: the argument takes a ``dict(type=...)`` config of a component of ``contract``'s family."""

    def __init__(self, contract: type) -> None:
        self.contract = contract

    def __repr__(self) -> str:
        return f"FamilyOf({self.contract.__name__})"


class Component:
    """``Component[Connector]``: a constructor argument that takes a ``dict(type=...)`` config of a component of the
    family whose contract is ``Connector`` (``aegis.contracts``). Validation looks its ``type`` up in that family's
    registry and knows which arguments the parent injects; ``list[Component[Loss]]`` takes several."""

    def __class_getitem__(cls, contract: type):
        return Annotated[dict, FamilyOf(contract)]
