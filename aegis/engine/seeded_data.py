"""Training data whose random augmentation depends only on (seed, epoch, position), never on which process reads it.

:class:`SeededSampler` is mmengine's ``DefaultSampler`` that hands each index out with a seed of its own;
:class:`SeededDataset` seeds torch, numpy and Python's ``random`` with it before reading the sample. So a random
crop or caption choice is the same whether a sample is read in the main process, in one of 1 or 2 dataloader
workers, by persistent workers in their tenth epoch, or after a resume: exact resume needs no worker state. In the
main process the training generators are saved and put back around the read, so data reading does not shift them.
AEGIS's epoch loop uses both for a training dataloader whose sampler is ``DefaultSampler`` (the default).
"""
from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from torch.utils.data import Dataset, get_worker_info

from .random_state import capture_random_states, restore_random_states

__all__ = ["SampleKey", "SeededSampler", "SeededDataset"]


class SampleKey(int):
    """A dataset index that also carries the seed its sample's random draws use."""

    def __new__(cls, index: int, seed: int):
        key = super().__new__(cls, index)
        key.seed = seed
        return key

    def __reduce__(self):  # sent to worker processes with its seed
        return SampleKey, (int(self), self.seed)


class SeededSampler(DefaultSampler):
    """``DefaultSampler`` (same order: seeded by seed + epoch) whose indices carry a seed of (seed, epoch, position)
    each."""

    def __iter__(self):
        base = np.random.SeedSequence([int(self.seed) % 2**32, int(self.epoch), int(self.rank)])
        seeds = base.generate_state(self.num_samples, dtype=np.uint32)
        return (SampleKey(int(index), int(seed)) for index, seed in zip(super().__iter__(), seeds))


class SeededDataset(Dataset):
    """Wraps a dataset: ``dataset[SampleKey]`` reads the sample with every generator seeded by the key's seed.

    Attributes (``metainfo``, ``pipeline``, ...) are the wrapped dataset's.
    """

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name == "dataset":  # not set yet (while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key):
        seed = getattr(key, "seed", None)
        if seed is None:
            return self.dataset[key]
        saved = capture_random_states() if get_worker_info() is None else None
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            return self.dataset[int(key)]
        finally:
            if saved is not None:
                restore_random_states(saved)
