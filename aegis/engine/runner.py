"""``AegisRunner``: mmengine's Runner with safe checkpoints, resume that survives torch >= 2.6, and a dry run."""
from __future__ import annotations

import glob
import os
import os.path as osp
import re

from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from aegis.errors import AegisError, CheckpointError, ConfigError

from .checkpoint import check_state_dict_shapes, safe_load, to_plain
from .divergence import DivergenceHook, check_finite_state
from .hooks import MetricsJsonHook, ProgressHook
from .result import RunResultHook
from .stop import StopCheckHook

__all__ = ["AegisRunner", "checkpoint_candidates"]


def checkpoint_candidates(work_dir: str) -> list[str]:
    """Checkpoints in ``work_dir``, newest first: the one named in ``last_checkpoint``, then by iteration/epoch."""
    found = glob.glob(osp.join(work_dir, "*.pth"))

    def order(path: str):
        numbers = [int(n) for n in re.findall(r"\d+", osp.basename(path))]
        return (osp.getmtime(path), numbers[-1] if numbers else -1)

    ordered = sorted(found, key=order, reverse=True)
    marker = osp.join(work_dir, "last_checkpoint")
    if osp.isfile(marker):
        named = open(marker).read().strip()
        named = named if osp.isabs(named) else osp.join(work_dir, osp.basename(named))
        if named in ordered:
            ordered.remove(named)
        if osp.isfile(named):
            ordered.insert(0, named)
    return ordered


class AegisRunner(Runner):
    """mmengine ``Runner`` whose checkpoints are plain data written atomically and read with ``weights_only=True``.

    ``resume=True`` with no ``load_from`` resumes from the newest *good* checkpoint in the work dir (a truncated or
    corrupt one is reported by path and skipped). Every run writes ``metrics.json``, tracks its logged metrics for
    ``result.json`` (``result_hook``) and shows a live progress bar on a terminal (``ProgressHook``); a stop request
    (SIGTERM) saves a checkpoint after the current iteration and raises ``RunStopped``; a non-finite loss, gradient
    norm or weight raises ``RunDiverged`` before anything is saved. ``train_cfg=dict(by_epoch=True)`` builds :class:`ResumableEpochBasedTrainLoop`, which continues such a
    mid-epoch checkpoint exactly. ``dry_run()`` builds everything and runs one training iteration. Subclasses for
    other training styles (RL) override ``train`` and ``dry_run``.
    """

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.get("cfg") is not None:  # what mmengine logs, dumps and stores in checkpoints: no API keys
            from aegis.secrets import redact
            kwargs["cfg"] = redact(kwargs["cfg"])
        super().__init__(*args, **kwargs)
        self._release_env_log()  # a subclass that builds no model through build_model
        self.register_hook(MetricsJsonHook(), "LOWEST")
        self.register_hook(_PlainCheckpointHook(), "LOWEST")
        self.result_hook = RunResultHook()
        self.register_hook(self.result_hook, "LOWEST")
        self.register_hook(StopCheckHook(), "VERY_LOW")
        if not any(isinstance(hook, DivergenceHook) for hook in self.hooks):  # one, unless custom_hooks set its own
            self.register_hook(DivergenceHook(), "HIGH")
        if not any(isinstance(hook, ProgressHook) for hook in self.hooks):  # a live bar on a terminal, else nothing
            self.register_hook(ProgressHook())

    # --- a constructor's error is the only thing printed --------------------------------------------------------
    def _log_env(self, env_cfg: dict) -> None:
        """Hold the environment banner and the config dump until the model is built.

        mmengine's ``Runner.__init__`` logs both (through this private method: there is no public door) before it
        builds the model, so an error raised by a component's constructor came after ~100 lines of banner and
        config. Held, they are logged right after the model is built, and a failing build prints only its error.
        """
        self._held_env_cfg = env_cfg

    def _release_env_log(self) -> None:
        env_cfg = self.__dict__.pop("_held_env_cfg", None)
        if env_cfg is not None:
            super()._log_env(env_cfg)

    def build_model(self, model):
        """mmengine's, with any exception from a constructor turned into a :class:`ConfigError` naming ``model``
        (AEGIS's own errors, which name their config path already, pass unchanged); then the held banner is logged."""
        try:
            built = super().build_model(model)
        except AegisError:
            raise
        except Exception as exc:  # the component's own message is what the user needs, not mmengine's stack
            name = model.get("type") if isinstance(model, dict) else type(model).__name__
            name = name if isinstance(name, str) else getattr(name, "__name__", str(name))
            raise ConfigError(f"model: {name} rejected its arguments: {type(exc).__name__}: {exc}") from exc
        self._release_env_log()
        return built

    def build_train_loop(self, loop):
        """mmengine's, except that ``by_epoch=True`` without a ``type`` builds the resumable epoch loop."""
        if isinstance(loop, dict) and "type" not in loop and loop.get("by_epoch"):
            from .loops import ResumableEpochBasedTrainLoop

            loop_cfg = {k: v for k, v in loop.items() if k != "by_epoch"}
            return ResumableEpochBasedTrainLoop(**loop_cfg, runner=self, dataloader=self._train_dataloader)
        return super().build_train_loop(loop)

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed: bool = False):
        """mmengine's ``build_dataloader``, with a bare ``collate_fn`` name (``"video_collate"``) resolved in AEGIS's
        FUNCTIONS first: mmengine looks collate functions up in its root registry only, which misses scoped children."""
        from aegis.registry import FUNCTIONS

        if isinstance(dataloader, dict):
            collate = dataloader.get("collate_fn")
            if isinstance(collate, dict) and isinstance(collate.get("type"), str):
                function = FUNCTIONS.get(collate["type"])
                if function is not None:
                    dataloader = {**dataloader, "collate_fn": {**collate, "type": function}}
        return Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)

    # --- checkpoints -----------------------------------------------------------------------------------------------
    def save_checkpoint(self, out_dir: str, filename: str, file_client_args=None, save_optimizer: bool = True,
                        save_param_scheduler: bool = True, meta=None, by_epoch: bool = True, backend_args=None):
        """Save like mmengine, but as plain data through a temporary file that is renamed into place."""
        tmp_name = f".{filename}.partial"
        super().save_checkpoint(out_dir, tmp_name, file_client_args, save_optimizer, save_param_scheduler, meta,
                                by_epoch, backend_args)
        tmp_path, final_path = osp.join(out_dir, tmp_name), osp.join(out_dir, filename)
        if osp.isfile(tmp_path):  # only the main process writes
            with open(tmp_path, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp_path, final_path)

    def load_checkpoint(self, filename: str, map_location="cpu", strict: bool = False,
                        revise_keys: list = [(r"^module.", "")]):  # noqa: B006 (mmengine's signature)
        """Load with ``weights_only=True``; raises :class:`CheckpointError` naming the file when it is bad."""
        checkpoint = safe_load(filename, map_location=map_location if not callable(map_location) else "cpu")
        self.call_hook("after_load_checkpoint", checkpoint=checkpoint)
        model = self.model.module if hasattr(self.model, "module") else self.model
        check_state_dict_shapes(model, checkpoint, filename, revise_keys)  # mmengine only warns, then half-loads
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self._loaded_random_states = _own_rank(checkpoint.get("epoch_random_states")), \
            _own_rank(checkpoint.get("random_states"))
        self.logger.info(f"Load checkpoint from {filename}")
        return checkpoint

    def resume(self, filename: str, resume_optimizer: bool = True, resume_param_scheduler: bool = True,
               map_location="default") -> None:
        """mmengine's resume, plus the random states the checkpoint carries (restored when training continues)."""
        super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
        loop = self.train_loop
        if hasattr(loop, "resume_states"):
            loop.resume_states = getattr(self, "_loaded_random_states", None)

    def load_or_resume(self) -> None:
        """Resume from ``load_from`` or, with ``resume=True`` alone, the newest checkpoint that loads."""
        if self._has_loaded:
            return None
        if self._resume and self._load_from is None:
            candidates = checkpoint_candidates(self.work_dir)
            init = self.cfg.get("_init_from")
            if not candidates and init:
                self.logger.info(f"--resume auto: no checkpoint in {self.work_dir}; starting from load_from={init}.")
                self.load_checkpoint(init)
                return None
            if not candidates:
                self.logger.info(f"--resume auto: no checkpoint in {self.work_dir}; starting from scratch.")
            for path in candidates:
                try:
                    self.resume(path)
                except CheckpointError as exc:
                    self.logger.warning(f"Skipping bad checkpoint: {exc}")
                    continue
                self.logger.info(f"Resumed from {path} (epoch {self.epoch}, iter {self.iter}).")
                self._has_loaded = True
                return None
            if candidates:
                raise CheckpointError(f"--resume auto: none of the checkpoints in {self.work_dir} loads: "
                                      + ", ".join(candidates))
            return None
        return super().load_or_resume()

    # --- dry run ---------------------------------------------------------------------------------------------------
    def dry_run(self) -> None:
        """Build every component and run exactly one training iteration (no validation)."""
        self._train_loop = dict(type="IterBasedTrainLoop", max_iters=1)
        self._val_loop = None
        self.train()


def _own_rank(states):
    """This process's entry of per-rank random states (or None)."""
    if not states:
        return None
    from mmengine.dist import get_rank
    return states[get_rank()] if get_rank() < len(states) else None


class _PlainCheckpointHook(Hook):
    """Runs last before a save: adds every process's random states (what an exact resume restores) and turns
    message-hub buffers and numpy values into plain data (see checkpoint.py)."""

    priority = "LOWEST"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        from .random_state import capture_random_states

        if isinstance(checkpoint.get("state_dict"), dict):
            check_finite_state(checkpoint["state_dict"], "the checkpoint")
        loop = runner.train_loop  # mmengine calls this on rank 0 only: the loop gathered every rank's states
        if getattr(loop, "in_epoch", False):  # inside an epoch (a stop request): now, and the epoch's start
            checkpoint["random_states"] = loop.now_all or [capture_random_states()]
            checkpoint["epoch_random_states"] = loop.epoch_start_all
            loop.now_all = None
        elif getattr(loop, "epoch_end_all", None) is not None:  # at an epoch's end: where the next one starts
            checkpoint["random_states"] = loop.epoch_end_all
        plain = to_plain(checkpoint)
        checkpoint.clear()
        checkpoint.update(plain)

