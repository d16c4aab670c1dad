"""aegis-motion-plugin: what a third-party AEGIS plugin package looks like (see docs/plugins.md)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the motion encoder, the time-step connector and the clip classifier."""
    from .classifier import ClipClassifier
    from .connector import TimeStepConnector
    from .motion import MotionEnergyEncoder

    registries.ENCODERS.register_module(module=MotionEnergyEncoder)
    registries.CONNECTORS.register_module(module=TimeStepConnector)
    registries.MODELS.register_module(module=ClipClassifier)
