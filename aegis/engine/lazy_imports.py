"""Import mmengine's runtime without its eager import of transformers (and, through it, peft).

``mmengine.optim`` (imported by ``mmengine.model``, ``mmengine.hooks`` and ``mmengine.runner``, so by every Runner
class, hook and model base) runs ``from transformers import Adafactor`` at import time to register that optimizer.
With peft installed that one line costs about 2 CPU-seconds (``transformers.optimization`` imports
``transformers.trainer_utils``, which imports peft, which imports transformers' modeling code): more than half of
what ``tools/run.py`` needs to report a configuration error, for an optimizer no AEGIS experiment uses. mmengine has
no switch for it (no public door), so :func:`import_mmengine_optim` imports ``mmengine.optim`` once with
``transformers`` masked in ``sys.modules`` (the import raises ImportError, which mmengine catches and skips) and then
registers ``Adafactor`` in mmengine's ``OPTIMIZERS`` as a function that imports transformers when an experiment
builds it, so ``optim_wrapper.optimizer.type='Adafactor'`` works as before.
"""
from __future__ import annotations

import sys

__all__ = ["import_mmengine_optim"]

_BUILDER = "mmengine.optim.optimizer.builder"


def Adafactor(params, **kwargs):  # noqa: N802 (the registered name of transformers' optimizer)
    """transformers' ``Adafactor`` optimizer, imported when it is built (``optim_wrapper.optimizer.type``)."""
    from transformers import Adafactor as _Adafactor

    return _Adafactor(params, **kwargs)


def import_mmengine_optim() -> None:
    """Import ``mmengine.optim`` without importing transformers; a no-op once mmengine.optim is imported."""
    if _BUILDER in sys.modules:
        return
    missing = object()
    previous = sys.modules.get("transformers", missing)
    sys.modules["transformers"] = None  # `from transformers import X` now raises ImportError (mmengine skips X)
    try:
        import mmengine.optim  # noqa: F401
    finally:
        if previous is missing:
            sys.modules.pop("transformers", None)
        else:
            sys.modules["transformers"] = previous
    from mmengine.registry import OPTIMIZERS

    if OPTIMIZERS.get("Adafactor") is None:
        OPTIMIZERS.register_module(name="Adafactor", module=Adafactor)
