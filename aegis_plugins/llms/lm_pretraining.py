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

from aegis.annotations import Component
from aegis.build import build_component
from aegis.contracts import LLMBackend
from aegis.errors import ConfigError, DataError

from .tokenizer import read_caption_groups

__all__ = ["CaptionTextDataset", "caption_collate", "CaptionLMPretrainer", "TinyLMExportHook"]


class CaptionTextDataset(Dataset):
    """Every caption of ``ann_file`` (the guide's JSON list of ``{"video_path", "caption" | "captions"}``) as one
    sample ``dict(inputs=None, data_samples=dict(caption=str, captions=[every caption of that video]))``; no video
    is read. ``repeat`` multiplies the epoch length so tiny corpora make full batches."""

    sample_keys = ("inputs", "data_samples")

    def __init__(self, ann_file: str, repeat: int = 1) -> None:
        if repeat < 1:
            raise ConfigError(f"CaptionTextDataset.repeat={repeat}; expected an integer >= 1.")
        self.ann_file = ann_file
        self.items = [(caption, group) for group in read_caption_groups(ann_file) for caption in group]
        self.repeat = repeat
        self.metainfo = dict(num_captions=len(self.items))

    def __len__(self) -> int:
        return len(self.items) * self.repeat

    def __getitem__(self, index: int) -> dict:
        caption, group = self.items[index % len(self.items)]
        return dict(inputs=None, data_samples=dict(caption=caption, captions=list(group)))


def caption_collate(batch: Sequence[Mapping]) -> dict:
    """A list of text samples -> ``dict(inputs=None, data_samples=[B dicts])``."""
    return dict(inputs=None, data_samples=[dict(sample["data_samples"]) for sample in batch])


class CaptionLMPretrainer(BaseModel):
    """Trains ``llm`` (an unfrozen ``TinyCausalLM``) on ``<s> [context] prompt caption </s>`` token sequences.

    With probability ``context_prob`` the context is another caption of the same video (a paraphrase naming the same
    event, speed and direction), otherwise it is empty: the LM learns to describe what its context describes, the
    skill the frozen LM later needs to read the connector's soft prefix, which takes the context's place. The loss
    is the next-token cross-entropy on the caption and ``</s>`` only. ``mode="loss"`` returns ``dict(loss=...)``,
    ``mode="tensor"`` the (B, L, V) logits, ``mode="predict"`` per-sample dicts with the greedy continuation of
    ``<s> prompt``. The captioner's ``prompt`` keeps the text the LM later sees identical, bar the visual prefix.
    """

    def __init__(self, llm: Component[LLMBackend], prompt: str = "Describe the disaster in this video:", max_length: int = 64,
                 context_prob: float = 0.5, data_preprocessor: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)

        if isinstance(llm, Mapping) and llm.get("frozen", True):
            raise ConfigError("model.llm.frozen must be False for text pretraining (it is the model being trained); "
                              "set model.llm.frozen=False.")
        if not 0.0 <= context_prob <= 1.0:
            raise ConfigError(f"model.context_prob={context_prob}; expected a probability in [0, 1].")
        self.llm = build_component(llm, LLMBackend, path="model.llm")
        self.prompt, self.max_length, self.context_prob = prompt, max_length, context_prob

    def _contexts(self, samples: Sequence[Mapping]) -> list[str]:
        contexts = []
        for sample in samples:
            others = [c for c in sample.get("captions") or [] if c != sample["caption"]]
            use = self.training and others and float(torch.rand(())) < self.context_prob
            contexts.append(others[int(torch.randint(len(others), ()))] if use else "")
        return contexts

    def _batch(self, captions: Sequence[str], contexts: Sequence[str] | None = None):
        """(B, L) ids, mask and labels; labels are the caption and ``</s>``, -100 elsewhere."""
        prompt = self.llm.encode(self.prompt) if self.prompt else []
        rows, starts = [], []
        for i, caption in enumerate(captions):
            context = self.llm.encode(contexts[i]) if contexts and contexts[i] else []
            given = [self.llm.bos_token_id, *context, *prompt]
            target = self.llm.encode(" " + caption.strip())[: max(1, self.max_length - len(given) - 1)]
            rows.append(given + target + [self.llm.eos_token_id])
            starts.append(len(given))
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.llm.pad_token_id, dtype=torch.long)  # (B, L)
        mask = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)  # (B, L)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
            labels[i, starts[i]: len(row)] = ids[i, starts[i]: len(row)]
        return ids.to(self.llm.device), mask.to(self.llm.device), labels.to(self.llm.device)

    def forward(self, inputs=None, data_samples: Sequence[Mapping] | None = None, mode: str = "tensor"):
        if not data_samples:
            raise DataError("CaptionLMPretrainer: the batch has no data_samples; expected dicts with 'caption'.")
        captions = [str(s["caption"]) for s in data_samples]
        if mode in ("loss", "tensor"):
            ids, mask, labels = self._batch(captions, self._contexts(data_samples))
            out = self.llm(inputs_embeds=self.llm.embed_tokens(ids), attention_mask=mask, labels=labels)
            return dict(loss=out.loss) if mode == "loss" else out.logits  # logits (B, L, V)
        if mode == "predict":
            prompt = [self.llm.bos_token_id, *(self.llm.encode(self.prompt) if self.prompt else [])]
            start = torch.tensor([prompt] * len(captions), device=self.llm.device)
            new = self.llm.generate(self.llm.embed_tokens(start), torch.ones_like(start), max_new_tokens=16)
            return [dict(caption=c, pred_caption=self.llm.decode(_until_eos(r, self.llm.eos_token_id)))
                    for c, r in zip(captions, new.tolist())]
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
