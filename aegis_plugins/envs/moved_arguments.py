"""Arguments an env no longer takes, each rejected with a ConfigError that says where it went.

A class lists them in ``moved_arguments`` ({old name: where it went}); :func:`rejects_moved_arguments` on its
``__init__`` raises the error before Python's own "unexpected keyword argument" can. The constructor's signature
(the config schema) is unchanged: the old names are not in it.
"""
from __future__ import annotations

import functools

from aegis.errors import ConfigError

__all__ = ["rejects_moved_arguments"]


def rejects_moved_arguments(init):
    """Wrap ``__init__`` so that a keyword named in the class's ``moved_arguments`` raises a ConfigError naming the
    class and where the argument went; ``inspect.signature`` still reads the wrapped signature."""

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        moved = getattr(type(self), "moved_arguments", {})
        for name in kwargs:
            if name in moved:
                raise ConfigError(f"{type(self).__name__}: {moved[name]}")
        init(self, *args, **kwargs)

    return checked
