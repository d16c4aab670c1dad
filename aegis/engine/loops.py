"""The epoch loop AEGIS uses for ``train_cfg=dict(by_epoch=True, ...)``: mmengine's, plus resume inside an epoch."""
from __future__ import annotations

from mmengine.runner import EpochBasedTrainLoop

__all__ = ["ResumableEpochBasedTrainLoop"]


class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that continues a checkpoint saved in the middle of an epoch.

    A stopped run (SIGTERM, see ``aegis.engine.stop``) saves ``iter_<N>.pth`` with the epoch it was in and the
    iterations done. mmengine would replay that epoch from its first batch, so the run would train more iterations
    than asked. This loop skips the batches already trained: the sampler draws the same order for the same epoch
    (``DefaultSampler`` seeds its shuffle with seed + epoch), the skipped batches are loaded and dropped, and
    training goes on from the next one with the same iteration count.
    """

    def run_epoch(self) -> None:
        done_in_epoch = self._iter - self._epoch * len(self.dataloader)
        if done_in_epoch <= 0:
            return super().run_epoch()
        self.runner.logger.info(f"Resuming inside epoch {self._epoch + 1}: skipping the {done_in_epoch} batches "
                                "already trained.")
        self.runner.call_hook("before_train_epoch")
        self.runner.model.train()
        for idx, data_batch in enumerate(self.dataloader):
            if idx < done_in_epoch:
                continue
            self.run_iter(idx, data_batch)
        self.runner.call_hook("after_train_epoch")
        self._epoch += 1
