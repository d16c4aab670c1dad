"""aegis-motion-plugin: what a third-party AEGIS plugin package looks like (see docs/plugins.md)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the motion encoder and the clip classifier."""
    from .classifier import ClipClassifier
    from .motion import MotionEnergyEncoder

    registries.ENCODERS.register_module(module=MotionEnergyEncoder)
    registries.MODELS.register_module(module=ClipClassifier)
