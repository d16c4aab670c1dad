"""Built-in AEGIS plugin: envs (the DisasterRescue grid world, Habitat PointNav, any Gymnasium id)."""
from aegis.plugins import hookimpl

GYMNASIUM_IDS = {"aegis/DisasterRescue-v0": "aegis_plugins.envs.disaster:DisasterRescueEnv"}


def register_gymnasium_ids() -> None:
    """Register this family's Gymnasium ids (idempotent; string entry points, so nothing heavy is imported)."""
    import gymnasium

    for env_id, entry_point in GYMNASIUM_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)


@hookimpl
def aegis_register(registries):
    """Register the envs in ENVS and their ids with Gymnasium."""
    from .disaster import DisasterRescueEnv
    from .gymnasium_env import GymnasiumEnv
    from .habitat_nav import HabitatNavEnv

    registries.ENVS.register_module(module=DisasterRescueEnv)
    registries.ENVS.register_module(module=GymnasiumEnv)
    registries.ENVS.register_module(module=HabitatNavEnv)
    register_gymnasium_ids()


@hookimpl
def aegis_doctor_checks():
    """HabitatNavEnv's needs: a supported habitat-sim, and a way to render headless (EGL on a CUDA device)."""
    from .habitat_backend import habitat_checks

    return habitat_checks()


# Gymnasium's documented `gymnasium.make("aegis_plugins.envs:aegis/DisasterRescue-v0")` form imports this module and
# expects the id registered by that import, so the Gymnasium id (and only it: never an AEGIS registry) is also
# registered here. It is a string entry point: nothing heavy is imported.
register_gymnasium_ids()
