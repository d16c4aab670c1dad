"""Built-in AEGIS plugin: models (composite models the Runner trains)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the composite models."""
    from .jepa import JEPAPretrainer
    from .predictor import JEPAPredictor

    registries.MODELS.register_module(module=JEPAPretrainer)
    registries.PREDICTORS.register_module(module=JEPAPredictor)

    from aegis_plugins.hooks.caption_samples import CaptionSamplesHook  # video captioning (issue #6)

    from .captioner import VideoCaptioner

    registries.MODELS.register_module(module=VideoCaptioner)
    registries.HOOKS.register_module(module=CaptionSamplesHook)

    from .qformer_pretrainer import QFormerPretrainer  # BLIP-2 stage 1 (issue #6)

    registries.MODELS.register_module(module=QFormerPretrainer)

    from .world_model import ActionConditionedPredictor  # V-JEPA 2-AC world model (issue #16)

    registries.MODELS.register_module(module=ActionConditionedPredictor)


@hookimpl
def aegis_add_commands(subparsers):
    """Add ``aegis surprise VIDEO --checkpoint ...`` (a V-JEPA model's surprise curve and its sudden changes)."""
    from .surprise_report import add_commands

    add_commands(subparsers)
