"""Built-in AEGIS plugin: encoders (video -> tokens)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the V-JEPA ViT, the V-JEPA 2 (transformers) wrapper and the small RL CNN."""
    from .small_cnn import SmallCNNEncoder
    from .vjepa import VJEPAEncoder
    from .vjepa2_hf import VJEPA2HFEncoder

    registries.ENCODERS.register_module(module=VJEPAEncoder)
    registries.ENCODERS.register_module(module=VJEPA2HFEncoder)
    registries.ENCODERS.register_module(module=SmallCNNEncoder)
