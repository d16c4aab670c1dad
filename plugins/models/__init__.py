"""Built-in AEGIS plugin: models."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register this family's components (none yet)."""
    from .captioner import CaptionSamplesHook, VideoCaptioner  # video captioning (issue #6)

    registries.MODELS.register_module(module=VideoCaptioner)
    registries.HOOKS.register_module(module=CaptionSamplesHook)
