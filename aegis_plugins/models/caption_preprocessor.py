"""Caption tokens before ``forward``: the data preprocessor of the video-language models, which turns each sample's
``caption`` (picked by the dataset) into token ids with the model's own tokenizer.

Part of the BLIP-2 recipe (Li et al., 2023, "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image
Encoders and Large Language Models"): stage 2 (``VideoCaptioner``) tokenizes with the LLM backend's tokenizer,
stage 1 (``QFormerPretrainer``) with the Q-Former's text tokenizer. mmengine calls a model's ``data_preprocessor``
in ``train_step``/``val_step``/``test_step`` before ``forward``, so ``forward`` receives ids and never tokenizes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from mmengine.model import BaseDataPreprocessor
from torch import nn

from aegis.errors import ConfigError, DataError

__all__ = ["CaptionDataPreprocessor", "caption_of", "caption_ids_of"]


def caption_of(sample: Mapping, index: int, owner: str) -> str:
    """``sample["caption"]``, the caption the dataset picked; a DataError naming the sample's keys if it has none."""
    caption = sample.get("caption") if isinstance(sample, Mapping) else None
    if not caption or not isinstance(caption, str):
        keys = sorted(sample) if isinstance(sample, Mapping) else type(sample).__name__
        raise DataError(f"{owner}: data_samples[{index}] has no 'caption' (keys: {keys}); the dataset must give "
                        "each sample a caption string (it picks one of 'captions').")
    return caption


def caption_ids_of(data_samples: Sequence[Mapping] | None, batch: int, owner: str) -> list[list[int]]:
    """The ``caption_ids`` of every sample (set by :class:`CaptionDataPreprocessor`); a ConfigError saying how to get
    them when a sample has none."""
    if data_samples is None or len(data_samples) != batch:
        raise ConfigError(f"{owner}: mode='loss' needs one data sample with a caption per clip; got "
                          f"{0 if data_samples is None else len(data_samples)} for {batch} clips.")
    ids = []
    for i, sample in enumerate(data_samples):
        row = sample.get("caption_ids") if isinstance(sample, Mapping) else None
        if row is None:
            caption_of(sample, i, owner)  # no caption at all: say that first
            raise ConfigError(f"{owner}: data_samples[{i}] has a 'caption' but no 'caption_ids'. Captions are "
                              "tokenized before forward by model.data_preprocessor(batch, training=True), as "
                              "model.train_step does; call forward with its output.")
        ids.append(list(row))
    return ids


class CaptionDataPreprocessor(BaseDataPreprocessor):
    """mmengine's device cast (``inner``, the model's configured preprocessor) plus caption tokenization.

    ``dict(inputs, data_samples=[dict(caption=str, ...)] * B)`` -> the same with ``caption_ids`` (list[int], from
    ``tokenize(caption)``) added to every sample: in training always, otherwise only when ``tokenize_in_eval`` (a
    model that scores captions in ``predict``). ``tokenize`` is the owning model's method, held as a plain callable so
    the tokenizer's model is not registered twice.
    """

    def __init__(self, tokenize: Callable[[str], list[int]], inner: BaseDataPreprocessor, owner: str,
                 tokenize_in_eval: bool = False) -> None:
        super().__init__()
        self.inner: nn.Module = inner
        self._tokenize, self._owner, self.tokenize_in_eval = tokenize, owner, tokenize_in_eval

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.inner(data, training)
        samples = data.get("data_samples") if isinstance(data, Mapping) else None
        if samples is None or not (training or self.tokenize_in_eval):
            return data
        data = dict(data)
        data["data_samples"] = [dict(s, caption_ids=self._tokenize(caption_of(s, i, self._owner)))
                                for i, s in enumerate(samples)]
        return data
