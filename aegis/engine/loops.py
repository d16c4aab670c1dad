"""The epoch loop AEGIS uses for ``train_cfg=dict(by_epoch=True, ...)``: mmengine's, plus exact resume."""
from __future__ import annotations

from mmengine.dataset import DefaultSampler
from mmengine.runner import EpochBasedTrainLoop

from .random_state import capture_random_states, gather_random_states, restore_random_states
from .seeded_data import SeededDataset, SeededSampler

__all__ = ["ResumableEpochBasedTrainLoop"]


def _seeded(dataloader):
    """A training dataloader config whose samples draw their augmentation from their own seeds (seeded_data.py),
    when it uses mmengine's default sampler; any other sampler or a built DataLoader is left as it is."""
    if not isinstance(dataloader, dict):
        return dataloader
    sampler = dict(dataloader.get("sampler") or dict(type="DefaultSampler"))
    if sampler.get("type") not in ("DefaultSampler", DefaultSampler):
        return dataloader
    dataset = dataloader["dataset"]
    if isinstance(dataset, dict):
        from mmengine.registry import DATASETS
        dataset = DATASETS.build(dataset)
    # the DataLoader draws its workers' base seed from this generator, not torch's global one: creating an iterator
    # (once per epoch, or once in all with persistent workers) must not shift the training draws
    import torch
    return {**dataloader, "dataset": SeededDataset(dataset), "sampler": {**sampler, "type": SeededSampler},
            "generator": torch.Generator().manual_seed(0)}


class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` whose runs continue exactly from a checkpoint, at an epoch's end or inside.

    Data: a training dataloader with mmengine's default sampler reads every sample with random draws seeded by
    (seed, epoch, position) (:mod:`aegis.engine.seeded_data`), so augmentation does not depend on the number of
    dataloader workers or on whether they persist, and needs no state in a checkpoint.
    Random states: every epoch starts from the generators' states at the end of the previous epoch's last training
    iteration (``epoch_end_states``), which is also what an end-of-epoch checkpoint stores. So whatever draws random
    numbers between two epochs (validation, caption samples, hooks) cannot make a resumed run differ from an
    uninterrupted one. A checkpoint saved inside an epoch (SIGTERM, see ``aegis.engine.stop``) also stores the states
    at that epoch's start; resuming from it restores those, replays the sampler's order while skipping the batches
    already trained (the same data augmentation draws), then restores the states of the moment it was saved, and
    goes on with the same iteration count.
    """

    def __init__(self, runner, dataloader, *args, **kwargs) -> None:
        super().__init__(runner, _seeded(dataloader), *args, **kwargs)
        self.epoch_start_states: dict | None = None
        self.epoch_end_states: dict | None = None
        # every rank's states, gathered where all ranks pass (mmengine saves on rank 0 only): what checkpoints store
        self.epoch_start_all: list | None = None
        self.epoch_end_all: list | None = None
        self.now_all: list | None = None
        self.in_epoch = False
        self.resume_states: tuple[dict | None, dict | None] | None = None  # (epoch start, at save), set on resume

    def capture_now(self) -> None:
        """Gather every rank's current states for a checkpoint saved inside the epoch (call on every rank)."""
        self.now_all = gather_random_states(capture_random_states())

    def run_epoch(self) -> None:
        start, at_save = self.resume_states or (None, None)
        self.resume_states = None
        done_in_epoch = self._iter - self._epoch * len(self.dataloader)
        if done_in_epoch > 0 and start is not None:
            restore_random_states(start)
        elif at_save is not None:
            restore_random_states(at_save)
        elif self.epoch_end_states is not None:
            restore_random_states(self.epoch_end_states)
        self.epoch_start_states = capture_random_states()
        self.epoch_start_all = gather_random_states(self.epoch_start_states)
        self.runner.call_hook("before_train_epoch")
        self.runner.model.train()
        if done_in_epoch > 0:
            self.runner.logger.info(f"Resuming inside epoch {self._epoch + 1}: skipping the {done_in_epoch} batches "
                                    "already trained.")
        self.in_epoch = True
        for idx, data_batch in enumerate(self.dataloader):
            if idx < done_in_epoch:
                if idx == done_in_epoch - 1 and at_save is not None:
                    restore_random_states(at_save)
                continue
            self.run_iter(idx, data_batch)
        self.in_epoch = False
        self.epoch_end_states = capture_random_states()
        self.epoch_end_all = gather_random_states(self.epoch_end_states)
        self.runner.call_hook("after_train_epoch")
        self._epoch += 1
