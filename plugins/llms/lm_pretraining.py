"""Caption-text pretraining of the tiny LM: next-token prediction on the caption corpus alone (the language-modelling
objective of Radford et al., 2018, "Improving Language Understanding by Generative Pre-Training"), so that the video
captioner can later keep the LM frozen as BLIP-2 does with its LLM.

Pieces: ``CaptionTextDataset`` (one sample per caption of a guide-format JSON), ``caption_collate``,
``CaptionLMPretrainer`` (the mmengine model) and ``TinyLMExportHook`` (writes ``<work_dir>/lm/{model.pth,
tokenizer.json, config.json}`` after every epoch).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from aegis.build import build_component
from aegis.errors import ConfigError, DataError

from .tokenizer import read_caption_corpus

__all__ = ["CaptionTextDataset", "caption_collate", "CaptionLMPretrainer", "TinyLMExportHook"]


class CaptionTextDataset(Dataset):
    """Every caption of ``ann_file`` (the guide's JSON list of ``{"video_path", "caption" | "captions"}``) as one
    sample ``dict(inputs=None, data_samples=dict(caption=str))``; no video is read. ``repeat`` multiplies the
    epoch length so tiny corpora make full batches."""

    def __init__(self, ann_file: str, repeat: int = 1) -> None:
        if repeat < 1:
            raise ConfigError(f"CaptionTextDataset.repeat={repeat}; expected an integer >= 1.")
        self.ann_file = ann_file
        self.captions = read_caption_corpus(ann_file)
        self.repeat = repeat
        self.metainfo = dict(num_captions=len(self.captions))

    def __len__(self) -> int:
        return len(self.captions) * self.repeat

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=None, data_samples=dict(caption=self.captions[index % len(self.captions)]))


def caption_collate(batch: Sequence[Mapping]) -> dict:
    """A list of text samples -> ``dict(inputs=None, data_samples=[B dicts])``."""
    return dict(inputs=None, data_samples=[dict(sample["data_samples"]) for sample in batch])


class CaptionLMPretrainer(BaseModel):
    """Trains ``llm`` (an unfrozen ``TinyCausalLM``) on ``<s> prompt caption </s>`` token sequences.

    ``mode="loss"`` returns ``dict(loss=...)``, the mean next-token cross-entropy over every non-padding token;
    ``mode="predict"`` returns per-sample dicts with the loss-free greedy continuation of ``<s> prompt``.
    The same ``prompt`` as the captioner's keeps the text the frozen LM later sees identical, bar the visual prefix.
    """

    def __init__(self, llm: dict, prompt: str = "Describe the disaster in this video:", max_length: int = 48,
                 data_preprocessor: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        from aegis.registry import LLMS

        if isinstance(llm, Mapping) and llm.get("frozen", True):
            raise ConfigError("model.llm.frozen must be False for text pretraining (it is the model being trained); "
                              "set model.llm.frozen=False.")
        self.llm = build_component(llm, LLMS, path="model.llm")
        self.prompt, self.max_length = prompt, max_length

    def _batch(self, captions: Sequence[str]):
        prompt = self.llm.encode(self.prompt) if self.prompt else []
        rows = []
        for caption in captions:
            ids = [self.llm.bos_token_id, *prompt, *self.llm.encode(" " + caption.strip())][: self.max_length - 1]
            rows.append(ids + [self.llm.eos_token_id])
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.llm.pad_token_id, dtype=torch.long)  # (B, L)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        labels = ids.masked_fill(mask == 0, -100)  # (B, L)
        labels[:, : 1 + len(prompt)] = -100  # <s> and the prompt are given, not predicted
        return ids.to(self.llm.device), mask.to(self.llm.device), labels.to(self.llm.device)

    def forward(self, inputs=None, data_samples: Sequence[Mapping] | None = None, mode: str = "tensor"):
        if not data_samples:
            raise DataError("CaptionLMPretrainer: the batch has no data_samples; expected dicts with 'caption'.")
        captions = [str(s["caption"]) for s in data_samples]
        ids, mask, labels = self._batch(captions)
        out = self.llm(inputs_embeds=self.llm.embed_tokens(ids), attention_mask=mask, labels=labels)
        if mode == "loss":
            return dict(loss=out.loss)
        if mode == "tensor":
            return out.logits  # (B, L, V)
        if mode == "predict":
            prompt = [self.llm.bos_token_id, *(self.llm.encode(self.prompt) if self.prompt else [])]
            start = torch.tensor([prompt] * len(captions), device=self.llm.device)
            new = self.llm.generate(self.llm.embed_tokens(start), torch.ones_like(start), max_new_tokens=16)
            return [dict(caption=c, pred_caption=self.llm.decode(_until_eos(r, self.llm.eos_token_id)),
                         loss=float(out.loss.detach())) for c, r in zip(captions, new.tolist())]
        raise ConfigError(f"CaptionLMPretrainer.forward: mode={mode!r}; expected 'loss', 'predict' or 'tensor'.")


def _until_eos(row: list[int], eos: int) -> list[int]:
    return row[: row.index(eos)] if eos in row else row


class TinyLMExportHook(Hook):
    """After every training epoch, export the trained LM to ``<work_dir>/<folder>/`` (``model.pth``,
    ``tokenizer.json``, ``config.json``): the folder ``TinyCausalLM(checkpoint=...)`` loads, frozen, in phase 2."""

    priority = "LOW"

    def __init__(self, folder: str = "lm") -> None:
        self.folder = folder

    def after_train_epoch(self, runner) -> None:
        from .tiny_causal_lm import export_tiny_lm

        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        path = export_tiny_lm(model.llm, Path(runner.work_dir) / self.folder)
        runner.logger.info(f"tiny LM exported to {path} (tokenizer.json and config.json beside it)")
        meta = Path(runner.work_dir) / self.folder / "trained.json"
        meta.write_text(json.dumps(dict(epoch=runner.epoch + 1, iter=runner.iter + 1)), encoding="utf-8")
