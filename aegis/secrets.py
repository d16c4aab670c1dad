"""Keep API keys out of what a run writes: logs, the resolved config in the work dir, checkpoints, result.json.

A config value is a secret when its key's last part names one (``api_key``, ``token``, ``secret``, ``password``,
...); an environment variable is when its name does (``OPENAI_API_KEY``, ``WANDB_API_KEY``, ``HF_TOKEN``).
:func:`redact` returns a copy of a config or dict with every secret value, and every string that contains one,
replaced by ``<redacted>``. Components still receive the real values: only what is logged or written is redacted.
"""
from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "secret_values", "redact", "redact_text"]

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"(api[_-]?key|access[_-]?key|secret([_-]?key)?|password|passwd|credentials?|token)$",
                          re.IGNORECASE)
_NOT_SECRET = re.compile(r"(^|_)(eos|bos|pad|unk|sep|cls|mask|special|start|end|image|video)_token$", re.IGNORECASE)
_MIN_SECRET_LENGTH = 6  # shorter values ("", "none", a test placeholder) are not scrubbed out of other text


def is_secret_key(key: str) -> bool:
    """``api_key``, ``OPENAI_API_KEY``, ``model.llm.hf_token``: whether a (dotted) key names a secret."""
    name = str(key).rsplit(".", 1)[-1]
    return bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def secret_values(data: Any = None) -> set[str]:
    """The secret strings to scrub: values under secret keys in ``data`` and secret environment variables."""
    found = {value for name, value in os.environ.items() if is_secret_key(name) and len(value) >= _MIN_SECRET_LENGTH}

    def walk(node, key=""):
        if isinstance(node, dict) or hasattr(node, "items"):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and is_secret_key(key) and len(node) >= _MIN_SECRET_LENGTH:
            found.add(node)

    walk(data)
    return found


def redact_text(text: str, secrets: set[str]) -> str:
    """``text`` with every occurrence of each secret replaced."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact(data: Any, secrets: set[str] | None = None) -> Any:
    """A copy of ``data`` (dicts, mmengine Configs, lists) with secret keys' values and secret substrings replaced.

    An mmengine ``Config`` comes back as a ``Config`` (with the same filename), so it can still be dumped and logged.
    """
    secrets = secret_values(data) if secrets is None else secrets

    def clean(node, key=""):
        if hasattr(node, "items"):
            return {k: clean(v, str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [clean(v, key) for v in node]
        if isinstance(node, tuple):
            return tuple(clean(v, key) for v in node)
        if isinstance(node, str):
            return REDACTED if is_secret_key(key) and node else redact_text(node, secrets)
        return node

    if hasattr(data, "to_dict") and hasattr(data, "filename"):
        from mmengine.config import Config
        return Config(clean(data.to_dict()), filename=data.filename)
    return clean(data)
