"""Test-only components (a linear regressor and its data) loaded through an experiment's ``custom_imports``.

They stand in for no AEGIS plugin: they exist so the core's runner, resume and DDP tests train something real and
small without depending on any plugin family.
"""
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from aegis.hookspecs import hookimpl


class ToyRegressor(BaseModel):
    """Linear regression (B, F) -> (B,), MSE loss against ``data_samples['target']``; ``dropout`` on the inputs
    draws from torch's global generator while training (for the exact-resume tests)."""

    def __init__(self, in_features: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(in_features, 1)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, inputs, data_samples=None, mode: str = "tensor"):
        prediction = self.linear(self.dropout(inputs)).squeeze(-1)  # (B,)
        if mode == "loss":
            return dict(loss=torch.nn.functional.mse_loss(prediction, data_samples["target"].float()))
        if mode == "predict":
            return [dict(prediction=p, target=t) for p, t in zip(prediction, data_samples["target"])]
        return prediction


class ToyRegressionDataset(Dataset):
    """``num_samples`` points of y = w.x + 0.1 noise, fixed by ``seed``; ``augment_noise`` adds fresh noise to x at
    every read, drawn from torch's and numpy's generators of the reading process (a random augmentation)."""

    def __init__(self, num_samples: int = 32, in_features: int = 4, seed: int = 0, augment_noise: float = 0.0,
                 nan_index: int | None = None) -> None:
        self.augment_noise, self.nan_index = augment_noise, nan_index
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(num_samples, in_features, generator=generator)
        weights = torch.arange(1, in_features + 1, dtype=torch.float32)
        self.y = self.x @ weights + 0.1 * torch.randn(num_samples, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict:
        x = self.x[index]
        if index == self.nan_index:  # one poisoned sample: its batch's loss is NaN
            x = torch.full_like(x, float("nan"))
        if self.augment_noise:
            import numpy as np
            scale = self.augment_noise * (1.0 + float(np.random.rand()))
            x = x + scale * torch.randn(x.shape)
        return dict(inputs=x, data_samples=dict(target=self.y[index]))


class StopAfterEpochHook(Hook):
    """Ends training after ``stop_after`` epochs, as an interrupted run would (the scheduler still targets max)."""

    def __init__(self, stop_after: int = 2) -> None:
        self.stop_after = stop_after

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 >= self.stop_after:  # the epoch counter advances after this hook
            runner.train_loop.stop_training = True


class SignalAtIterHook(Hook):
    """Sends this process ``signal`` (``times`` times) after training iteration ``at_iter`` (1-based), as Slurm, a
    sweep agent or an impatient Ctrl-C would."""

    def __init__(self, at_iter: int = 12, signal: str = "SIGTERM", times: int = 1) -> None:
        self.at_iter, self.signal, self.times = at_iter, signal, times

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        import os
        import signal

        if runner.iter + 1 == self.at_iter:
            for _ in range(self.times):
                os.kill(os.getpid(), getattr(signal, self.signal))


class ToyMSEMetric(BaseMetric):
    """Mean squared error of ``ToyRegressor``'s predictions (lower is better), reported as ``mse``."""

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            self.results.append(float((sample["prediction"] - sample["target"]) ** 2))

    def compute_metrics(self, results: list) -> dict:
        return dict(mse=sum(results) / max(1, len(results)))


@hookimpl
def aegis_register(registries):
    registries.MODELS.register_module(module=ToyRegressor)
    registries.DATASETS.register_module(module=ToyRegressionDataset)
    registries.HOOKS.register_module(module=StopAfterEpochHook)
    registries.METRICS.register_module(module=ToyMSEMetric)
    registries.HOOKS.register_module(module=SignalAtIterHook)
