"""Engine pieces of the core (runner, safe checkpoints, hooks), registered like a plugin under the name aegis.core."""
from aegis.hookspecs import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the core's runner and hooks."""
