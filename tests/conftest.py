"""Shared test setup: plugins load once per session, sockets to anything but loopback fail, torch stays small."""
from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True, scope="session")
def aegis_plugins_loaded():
    """Load the core and every entry-point plugin once, as tools/run.py does."""
    import torch

    torch.set_num_threads(1)
    from aegis import plugins

    return plugins.load()


_real_connect = socket.socket.connect


def _loopback_only_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")) or self.family == socket.AF_UNIX:
        return _real_connect(self, address)
    raise OSError(f"tests must not use the network (tried to connect to {address!r})")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any socket connection outside loopback fails, so no test downloads by accident."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only_connect)
