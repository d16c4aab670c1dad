"""Built-in AEGIS plugin: losses (terms combined by weighted lists in experiments)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the loss terms."""
    from .jepa import LatentReconstructionLoss, TemporalCausalityLoss

    registries.LOSSES.register_module(module=LatentReconstructionLoss)
    registries.LOSSES.register_module(module=TemporalCausalityLoss)

    from .vlm import GroundedCaptioningLoss, VideoTextContrastiveLoss, VideoTextMatchingLoss  # BLIP-2 stage 1 (#6)

    registries.LOSSES.register_module(module=VideoTextContrastiveLoss)
    registries.LOSSES.register_module(module=VideoTextMatchingLoss)
    registries.LOSSES.register_module(module=GroundedCaptioningLoss)
