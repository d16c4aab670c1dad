"""Built-in AEGIS plugin: hooks (Runner hooks of the training recipes)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the JEPA pretraining hooks and the captioner's alert calibration."""
    from .alert_calibration import AlertCalibrationHook
    from .jepa import CollapseWatchHook, JEPATargetEMAHook, LossWeightScheduleHook, PredictorCooldownHook

    registries.HOOKS.register_module(module=JEPATargetEMAHook)
    registries.HOOKS.register_module(module=CollapseWatchHook)
    registries.HOOKS.register_module(module=LossWeightScheduleHook)
    registries.HOOKS.register_module(module=PredictorCooldownHook)
    registries.HOOKS.register_module(module=AlertCalibrationHook)
