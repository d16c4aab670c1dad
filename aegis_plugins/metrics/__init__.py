"""Built-in AEGIS plugin: metrics (evaluator metrics for the Runner's val/test loops)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the caption metrics (BLEU-4, CIDEr), the disaster task accuracies and the VoE surprise scores."""
    from .caption import CaptionMetric, DisasterAccuracyMetric
    from .physics import VoEPairwiseMetric

    registries.METRICS.register_module(module=CaptionMetric)
    registries.METRICS.register_module(module=DisasterAccuracyMetric)
    registries.METRICS.register_module(module=VoEPairwiseMetric)
