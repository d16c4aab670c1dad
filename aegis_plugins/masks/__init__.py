"""Built-in AEGIS plugin: masks (token mask generators for masked latent prediction)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the V-JEPA mask generators and the future-prediction mask."""
    from .future import FutureMaskGenerator
    from .multiblock3d import MultiBlock3DMaskGenerator
    from .random_tube import RandomTubeMaskGenerator

    registries.MASK_GENERATORS.register_module(module=MultiBlock3DMaskGenerator)
    registries.MASK_GENERATORS.register_module(module=RandomTubeMaskGenerator)
    registries.MASK_GENERATORS.register_module(module=FutureMaskGenerator)
