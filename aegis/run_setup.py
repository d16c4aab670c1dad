"""Hand a loaded experiment config to an mmengine Runner (``AegisRunner`` unless ``runner_type`` says otherwise)."""
from __future__ import annotations

import contextlib
import copy
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping

from .errors import ConfigError

__all__ = ["apply_run_options", "build_runner", "compute_threads", "cuda_data_path", "log_threads", "run", "threads_of"]


def apply_run_options(cfg, *, resume: str | None = None, launcher: str = "none", amp: bool = False,
                      seed: int | None = None, deterministic: bool = False, cuda: bool | None = None):
    """Fold the command-line run options into ``cfg`` (in place) and return it.

    ``cuda`` says whether the run goes to a CUDA device (default: ``torch.cuda.is_available()``, where mmengine's
    Runner puts the model); it picks what ``amp`` means.
    """
    if cuda is None:
        import torch
        cuda = torch.cuda.is_available()
    cfg.launcher = launcher
    if resume is not None:
        if resume == "auto":  # the experiment's own load_from stays the initial weights when nothing is resumed
            cfg._init_from = cfg.get("load_from")
            cfg.resume, cfg.load_from = True, None
        else:
            if not os.path.isfile(resume):
                raise ConfigError(f"--resume {resume!r}: no such checkpoint file. Use --resume (auto: the newest "
                                  f"good checkpoint in {cfg.work_dir}) or an existing path.")
            cfg.resume, cfg.load_from = True, resume
    if seed is not None or deterministic:
        randomness = dict(cfg.get("randomness") or {})
        if seed is not None:
            randomness["seed"] = seed
        randomness["deterministic"] = deterministic or randomness.get("deterministic", False)
        cfg.randomness = randomness
    if amp:
        optim = cfg.get("optim_wrapper")
        if optim is None:
            raise ConfigError("--amp: the experiment has no optim_wrapper to switch to mixed precision.")
        if cuda:
            optim.type = "AmpOptimWrapper"
            optim.setdefault("loss_scale", "dynamic")
        else:  # mmengine's AmpOptimWrapper asserts a GPU; bf16 autocast needs no loss scaling
            optim.type = "BF16AutocastOptimWrapper"
            optim.pop("loss_scale", None)
            from .doctor import CPU_BF16_SLOWDOWN, cpu_bf16_support

            native, found = cpu_bf16_support()
            if not native:
                warnings.warn(f"--amp without a GPU uses bf16 autocast, but this CPU has {found}: it is emulated, "
                              f"{CPU_BF16_SLOWDOWN}. Drop --amp to train in fp32 (`aegis doctor` checks this).",
                              RuntimeWarning, stacklevel=2)
    if launcher != "none":
        _prepare_distributed(cfg)
    return cfg


def cuda_data_path(cfg):
    """Pinned batches copied without blocking, unless the experiment chose otherwise: ``pin_memory=True`` on the
    train dataloader (its workers' batches land in page-locked memory) and ``non_blocking=True`` on the model's
    data preprocessor (mmengine's ``BaseDataPreprocessor`` then copies them to the GPU asynchronously). The
    preprocessor is the model's own ``data_preprocessor`` dict if it has one, else a top-level ``data_preprocessor``
    (which mmengine's Runner merges into the model), else a new ``BaseDataPreprocessor`` for a model class that
    takes one; a preprocessor type that takes no ``non_blocking`` is left alone. Changes ``cfg`` in place and
    returns it; :func:`build_runner` applies it to the runner's copy on a CUDA device."""
    loader = cfg.get("train_dataloader")
    if isinstance(loader, Mapping):
        loader.setdefault("pin_memory", True)
    model = cfg.get("model")
    if not isinstance(model, Mapping) or "type" not in model:
        return cfg
    from . import plugins
    from .build import constructor_parameters
    from .registry import MODELS

    plugins.load()

    def takes(type_value, argument: str) -> bool:
        obj = MODELS.get(type_value) if isinstance(type_value, str) else type_value
        return obj is not None and argument in constructor_parameters(obj)[0]

    preprocessor = model.get("data_preprocessor")
    if preprocessor is None and isinstance(cfg.get("data_preprocessor"), Mapping):
        preprocessor = cfg.get("data_preprocessor")
    if preprocessor is None:
        if takes(model["type"], "data_preprocessor"):  # mmengine's BaseModel default, made non-blocking
            model["data_preprocessor"] = dict(type="BaseDataPreprocessor", non_blocking=True)
    elif isinstance(preprocessor, Mapping) and takes(preprocessor.get("type", "BaseDataPreprocessor"),
                                                     "non_blocking"):
        preprocessor.setdefault("non_blocking", True)
    return cfg


def _prepare_distributed(cfg) -> None:
    """On a CPU-only torch, start the gloo process group ourselves and wrap DDP without device ids.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` and its default DDP wrap passes
    ``device_ids=[LOCAL_RANK]``; both fail on CPU. With the group already initialised the Runner skips its own init.
    """
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():
        return
    if not dist.is_initialized():
        if cfg.launcher == "slurm":
            os.environ.setdefault("RANK", os.environ.get("SLURM_PROCID", "0"))
            os.environ.setdefault("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1"))
            os.environ.setdefault("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0"))
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", "29500")
        dist.init_process_group(backend="gloo")
    env_cfg = dict(cfg.get("env_cfg") or {})
    env_cfg["dist_cfg"] = dict(env_cfg.get("dist_cfg") or {}, backend="gloo")
    cfg.env_cfg = env_cfg
    wrapper = dict(cfg.get("model_wrapper_cfg") or dict(type="MMDistributedDataParallel"))
    wrapper["device_ids"] = None
    cfg.model_wrapper_cfg = wrapper


def build_runner(cfg, validate: bool = True, cuda: bool | None = None):
    """Validate ``cfg`` (unless told not to) and build its runner through the RUNNERS registry.

    On a CUDA device (``cuda``; default ``torch.cuda.is_available()``) the runner gets a copy of ``cfg`` with
    :func:`cuda_data_path` applied: pinning and non-blocking copies are how this device runs the experiment, not
    what the experiment is, so ``cfg`` itself (the ``config.py`` AEGIS writes and the ``config_hash`` that finds
    finished upstream runs) stays the same on every device.
    """
    from . import plugins
    from .build import validate as validate_cfg
    from .registry import RUNNERS

    plugins.load()
    if validate:
        validate_cfg(cfg)
    if cuda is None:
        import torch
        cuda = torch.cuda.is_available()
    if cuda:
        cfg = cuda_data_path(copy.deepcopy(cfg))
    runner_type = cfg.get("runner_type", "AegisRunner")
    runner_cls = RUNNERS.get(runner_type)
    if runner_cls is None:
        from .build import _unknown_type
        raise _unknown_type(runner_type, "runner_type", "runner_type")
    return runner_cls.from_cfg(cfg)


def compute_threads(cfg) -> int | None:
    """The torch threads a run computes with, from the top-level ``compute_threads`` key: None (the default) keeps
    torch's own count; an int sets it; ``"auto"`` leaves one CPU to each train data-loader worker (at least 1 thread,
    at most torch's default), so decoding and training do not take turns on the same cores."""
    value = cfg.get("compute_threads", None)
    if value is None:
        return None
    import torch

    if value == "auto":
        loader = cfg.get("train_dataloader") or {}
        workers = int(loader.get("num_workers", 0) or 0)
        return max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - workers))
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ConfigError(f"compute_threads={value!r}: expected None (torch's default), 'auto' (one CPU left to each "
                      "data-loader worker) or an int >= 1.")


@contextlib.contextmanager
def threads_of(cfg):
    """Run the body with :func:`compute_threads` torch threads (when set), and give the old count back after."""
    import torch

    threads, previous = compute_threads(cfg), torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def log_threads(runner, cfg) -> None:
    """Say in the run's log how many torch threads it trains with, when the experiment chose."""
    if cfg.get("compute_threads") is not None:
        import torch

        runner.logger.info(f"compute_threads={cfg.compute_threads!r}: {torch.get_num_threads()} torch threads")


def run(cfg, dry_run: bool = False):
    """Build the runner and train (or, with ``dry_run``, build everything and run one iteration) with
    :func:`compute_threads` torch threads (restored afterwards). Returns the runner."""
    with threads_of(cfg):
        return _run(cfg, dry_run)


def _run(cfg, dry_run: bool):
    scratch = dry_run and not cfg.get("_work_dir_given", False)
    if scratch:
        cfg.work_dir = tempfile.mkdtemp(prefix="aegis_dry_run_")
    cfg.pop("_work_dir_given", None)
    start = time.perf_counter()
    runner = build_runner(cfg)
    log_threads(runner, cfg)
    if dry_run:
        runner.dry_run()
        runner.logger.info(f"Dry run finished: every component built and one training step ran "
                           f"({time.perf_counter() - start:.1f} s" + ("" if scratch else f", work dir {cfg.work_dir}")
                           + ").")
        if scratch:  # nothing of a dry run without --work-dir is worth keeping
            shutil.rmtree(cfg.work_dir, ignore_errors=True)
    else:
        runner.train()
    return runner
