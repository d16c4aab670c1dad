"""Engine pieces of the core: the runner, safe checkpoint I/O, metrics.json and result.json, the core hooks,
stopping at a safe point (SIGTERM) and bf16 autocast.

They register through the same ``aegis_register`` hook a plugin uses, under the plugin name ``aegis.core``.
Importing this package imports mmengine (not torch.nn); ``import aegis`` alone does not.
"""
from aegis.hookspecs import hookimpl

from .checkpoint import atomic_save, atomic_write_bytes, file_sha256, safe_load
from .metrics_file import read_metrics_json, write_metrics_json

__all__ = ["AegisRunner", "checkpoint_candidates", "MetricsJsonHook", "ProgressHook", "AegisLogProcessor", "BF16AutocastOptimWrapper",
           "atomic_save", "atomic_write_bytes", "safe_load", "file_sha256", "write_metrics_json", "read_metrics_json",
           "RunResultHook", "read_result", "write_result", "RunStopped", "stop_requested",
           "request_stop", "mark_last_checkpoint", "RunDiverged", "non_finite_terms"]


def __getattr__(name):  # the runner and hooks import mmengine.runner (and torch): load them on first use
    if name in ("AegisRunner", "checkpoint_candidates"):
        from . import runner
        return getattr(runner, name)
    if name == "BF16AutocastOptimWrapper":
        from . import optim
        return optim.BF16AutocastOptimWrapper
    if name in ("MetricsJsonHook", "AegisLogProcessor", "ProgressHook"):
        from . import hooks
        return getattr(hooks, name)
    if name in ("RunResultHook", "read_result", "write_result"):
        from . import result
        return getattr(result, name)
    if name in ("RunDiverged", "non_finite_terms"):
        from . import divergence
        return getattr(divergence, name)
    if name in ("RunStopped", "stop_requested", "request_stop", "mark_last_checkpoint"):
        from . import stop
        return getattr(stop, name)
    raise AttributeError(name)


@hookimpl
def aegis_register(registries):
    """Register the core's runner, hooks (metrics.json, progress bar, timed checkpoints, divergence), log processor
    and bf16 optim wrapper."""
    from .lazy_imports import import_mmengine_optim

    import_mmengine_optim()  # first, before anything imports mmengine.optim: without transformers (2 s faster)
    from .hooks import AegisLogProcessor, MetricsJsonHook, ProgressHook
    from .optim import BF16AutocastOptimWrapper
    from .runner import AegisRunner
    from .divergence import DivergenceHook
    from .stop import TimedCheckpointHook

    registries.RUNNERS.register_module(module=AegisRunner)
    registries.HOOKS.register_module(module=MetricsJsonHook)
    registries.HOOKS.register_module(module=ProgressHook)
    registries.LOG_PROCESSORS.register_module(module=AegisLogProcessor)
    registries.OPTIM_WRAPPERS.register_module(module=BF16AutocastOptimWrapper)
    registries.HOOKS.register_module(module=TimedCheckpointHook)
    registries.HOOKS.register_module(module=DivergenceHook)
