"""Built-in AEGIS plugin: connectors (visual tokens (B, N, Dv) -> LLM prefix (B, Q, Dllm))."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the Q-Former, the Perceiver Resampler and the MLP projector."""
    from .mlp_projector import MLPProjector
    from .perceiver import PerceiverResampler
    from .qformer import QFormer

    registries.CONNECTORS.register_module(module=QFormer)
    registries.CONNECTORS.register_module(module=PerceiverResampler)
    registries.CONNECTORS.register_module(module=MLPProjector)
