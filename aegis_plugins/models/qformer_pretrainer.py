"""BLIP-2 stage 1: train a Q-Former on a frozen video encoder with video-text objectives, before any LLM is attached.

Li et al., "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image Encoders and Large Language Models",
ICML 2023, Sec. 3.2. The objectives are LOSSES plugins (``aegis_plugins/losses/vlm.py``) combined by a weighted list;
stage 2 (``VideoCaptioner``) then loads the trained Q-Former with ``connector=dict(type="QFormer",
checkpoint=<this run's checkpoint>)``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from aegis.annotations import Component
from aegis.build import build_component
from aegis.contracts import Connector, Loss, VideoEncoder
from aegis.engine.checkpoint import resolve_checkpoint
from aegis.errors import ConfigError

from .caption_preprocessor import CaptionDataPreprocessor, caption_ids_of, caption_of

__all__ = ["QFormerPretrainer", "ByteTokenizer"]

_PASS_THROUGH = ("caption", "captions", "label", "class_name", "speed", "direction", "params", "video_path")


class ByteTokenizer:
    """Text <-> ids with no vocabulary file: [PAD]=0, [CLS]=1, [SEP]=2, [DEC]=3, then the 256 UTF-8 byte values."""

    pad_id, cls_id, sep_id, dec_id = 0, 1, 2, 3
    offset = 4
    vocab_size = 256 + offset

    def encode(self, text: str) -> list[int]:
        return [b + self.offset for b in text.encode("utf-8")]

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(i - self.offset for i in ids if i >= self.offset).decode("utf-8", errors="replace")


class _HFTokenizer:
    """A transformers tokenizer from a local folder (e.g. BERT's, next to ``bert_checkpoint``) plus a [DEC] token."""

    def __init__(self, folder: str) -> None:
        from transformers import AutoTokenizer

        try:
            self.backend = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            raise ConfigError(f"model.tokenizer={folder!r}: cannot load a tokenizer from there ({exc}). Give a "
                              "local folder written by save_pretrained, or None for the built-in byte tokenizer.")
        self.backend.add_special_tokens({"additional_special_tokens": ["[DEC]"]})
        self.pad_id = self.backend.pad_token_id if self.backend.pad_token_id is not None else 0
        self.cls_id = self.backend.cls_token_id if self.backend.cls_token_id is not None else self.backend.bos_token_id
        self.sep_id = self.backend.sep_token_id if self.backend.sep_token_id is not None else self.backend.eos_token_id
        self.dec_id = self.backend.convert_tokens_to_ids("[DEC]")
        self.vocab_size = len(self.backend)

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=True)


class _BPETokenizer:
    """The caption BPE of ``aegis_plugins.llms.tokenizer`` (a ``tokenizer.json`` file, or trained on a caption corpus)
    with <pad> as [PAD], <s> as [CLS], </s> as [SEP] and one extra id for [DEC]."""

    def __init__(self, tokenizer_file: str | None, corpus_file: str | None, vocab_size: int) -> None:
        from aegis_plugins.llms.tokenizer import CaptionTokenizer, read_caption_corpus

        if tokenizer_file is not None:
            self.backend = CaptionTokenizer.load(tokenizer_file)
        else:
            self.backend = CaptionTokenizer.train(read_caption_corpus(corpus_file), vocab_size)
        self.pad_id, self.cls_id, self.sep_id = (self.backend.pad_token_id, self.backend.bos_token_id,
                                                 self.backend.eos_token_id)
        self.dec_id = self.backend.vocab_size
        self.vocab_size = self.backend.vocab_size + 1

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.backend.decode([i for i in ids if i != self.dec_id])


def _make_tokenizer(tokenizer: str | None, corpus_file: str | None, vocab_size: int):
    if tokenizer is not None and corpus_file is not None:
        raise ConfigError("model: set either tokenizer (a tokenizer.json file or a transformers folder) or "
                          "corpus_file (train a caption BPE), not both.")
    if corpus_file is not None:
        return _BPETokenizer(None, corpus_file, vocab_size)
    if tokenizer is None:
        return ByteTokenizer()
    if tokenizer.endswith(".json"):
        return _BPETokenizer(tokenizer, None, vocab_size)
    return _HFTokenizer(tokenizer)


class QFormerPretrainer(BaseModel):
    """Stage-1 model: frozen ``encoder`` (B, C, T, H, W) -> tokens (B, N, Dv) -> ``connector`` (a QFormer).

    ``losses`` is a list of weighted stage-1 terms (default: contrastive, matching with hard negatives, grounded
    captioning). The Q-Former's output projection (``output_dim`` = ``embed_dim``) serves as BLIP-2's vision
    projection for the contrastive features; ``text_proj`` maps the text [CLS] output to the same ``embed_dim``.
    ``input_dim``, ``output_dim``, ``text_vocab_size`` and ``max_text_length`` of the connector are injected.
    The text tokenizer is, in order of preference: a BPE of ``tokenizer_vocab_size`` entries trained at build time
    on ``corpus_file`` (a guide-format caption JSON, as the tiny LM does), ``tokenizer`` (a ``tokenizer.json`` of
    the ``tokenizers`` library, or a local transformers folder such as BERT's), or UTF-8 bytes (no file needed).
    ``encoder_checkpoint`` names a phase-1 work dir (its newest checkpoint) or file and sets the encoder's
    ``checkpoint``. The text of a clip is its sample's ``caption`` (picked by the dataset), tokenized by the model's
    data preprocessor (:meth:`tokenize_caption`, before ``forward``, in training and evaluation) into
    ``caption_ids``.
    ``mode="loss"`` returns the weighted terms; ``mode="predict"`` one dict per clip with ``pred_caption`` (greedy
    generation through the text path), ``gt_caption``, ``captions`` and ``text_rank`` (the rank of its own caption
    among the batch's distinct captions by similarity, 0 = best); ``mode="tensor"`` the query outputs (B, Q, D).
    """

    def __init__(self, encoder: Component[VideoEncoder], connector: Component[Connector],
                 losses: Sequence[Component[Loss]] = (dict(type="VideoTextContrastiveLoss"), dict(type="VideoTextMatchingLoss"),
                                           dict(type="GroundedCaptioningLoss")),
                 embed_dim: int = 256, temperature: float = 0.07, tokenizer: str | None = None,
                 corpus_file: str | None = None, tokenizer_vocab_size: int = 512, max_text_length: int = 32,
                 max_new_tokens: int = 32, encoder_checkpoint: str | None = None,
                 data_preprocessor: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        from aegis.registry import CONNECTORS

        if isinstance(losses, Mapping) or not losses:
            raise ConfigError("model.losses must be a non-empty list of loss dicts, e.g. "
                              "[dict(type='VideoTextContrastiveLoss'), dict(type='GroundedCaptioningLoss')].")
        if not 0.001 <= temperature <= 0.5:
            raise ConfigError(f"model.temperature={temperature} is outside BLIP-2's clamp range [0.001, 0.5].")
        self.tokenizer = _make_tokenizer(tokenizer, corpus_file, tokenizer_vocab_size)
        self.max_text_length, self.max_new_tokens = max_text_length, max_new_tokens
        if encoder_checkpoint is not None:  # a phase-1 work dir (its last checkpoint) or a file
            encoder = dict(encoder, checkpoint=resolve_checkpoint(encoder_checkpoint, "model.encoder_checkpoint"))
        self.encoder = build_component(encoder, VideoEncoder, path="model.encoder")
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder.eval()
        connector_cls = CONNECTORS.get(connector.get("type")) if isinstance(connector, Mapping) else type(connector)
        if connector_cls is not None and not callable(getattr(connector_cls, "encode_text", None)):
            # stage 1 needs more than the Connector contract: the Q-Former's text path
            raise ConfigError(f"model.connector: stage 1 trains a Q-Former through its text path; "
                              f"{connector_cls.__name__} has none. Use type='QFormer'.")
        self.connector = build_component(
            connector, Connector, path="model.connector", input_dim=int(self.encoder.embed_dim), output_dim=embed_dim,
            text_vocab_size=self.tokenizer.vocab_size, max_text_length=max_text_length)
        if self.connector.text_vocab_size < self.tokenizer.vocab_size:
            raise ConfigError(f"model.connector.text_vocab_size={self.connector.text_vocab_size} is smaller than "
                              f"the tokenizer's {self.tokenizer.vocab_size} ids; remove it (it is injected).")
        self.text_proj = nn.Linear(self.connector.hidden_size, embed_dim)
        self.temperature = nn.Parameter(torch.tensor(float(temperature)))
        self.losses = nn.ModuleList(  # hidden_size reaches the losses that take it (the Loss family injects it)
            build_component(loss, Loss, path=f"model.losses[{i}]", hidden_size=self.connector.hidden_size)
            for i, loss in enumerate(losses))
        names = [loss.loss_name for loss in self.losses]
        if len(set(names)) != len(names):
            raise ConfigError(f"model.losses: every term needs a distinct loss_name to be logged under; got {names}.")
        self.data_preprocessor = CaptionDataPreprocessor(self.tokenize_caption, self.data_preprocessor,
                                                         "QFormerPretrainer", tokenize_in_eval=True)

    def train(self, mode: bool = True) -> QFormerPretrainer:
        """The frozen encoder stays in eval mode."""
        super().train(mode)
        self.encoder.eval()
        return self

    # --- inputs -------------------------------------------------------------------------------------------
    def visual_tokens(self, inputs: Tensor) -> tuple[Tensor, tuple[int, int, int] | None]:
        """Frozen encoder tokens (B, N, Dv) and their grid (T', H', W'), or None when the encoder has no grid."""
        with torch.no_grad():
            tokens = self.encoder(inputs)
        grid = self.encoder.grid_of(inputs.shape)
        if grid is not None and grid[0] * grid[1] * grid[2] != tokens.shape[1]:
            grid = None
        return tokens.detach(), grid

    def tokenize_caption(self, caption: str) -> list[int]:
        """``[CLS] caption [SEP]`` ids, truncated to ``max_text_length``. Called by the data preprocessor, never
        inside ``forward``."""
        tok = self.tokenizer
        return [tok.cls_id] + tok.encode(caption)[:self.max_text_length - 2] + [tok.sep_id]

    def pad(self, rows: Sequence[Sequence[int]], device) -> tuple[Tensor, Tensor]:
        """Right-pad B rows of token ids: ids and mask (B, L)."""
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), self.tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, :len(row)] = 1
        return ids.to(device), mask.to(device)

    def tokenize(self, captions: Sequence[str], device) -> tuple[Tensor, Tensor]:
        """[CLS] caption [SEP], truncated to ``max_text_length`` and right-padded: ids and mask (B, L)."""
        return self.pad([self.tokenize_caption(c) for c in captions], device)

    def _texts(self, data_samples: Sequence[Mapping] | None, batch: int) -> tuple[list[str], list[list[int]]]:
        """The captions and their ``caption_ids`` (from the data preprocessor) of the batch's samples."""
        ids = caption_ids_of(data_samples, batch, "QFormerPretrainer")
        return [caption_of(s, i, "QFormerPretrainer") for i, s in enumerate(data_samples)], ids

    # --- features -----------------------------------------------------------------------------------------
    def similarity(self, tokens: Tensor, grid, text_ids: Tensor, text_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Clip-to-text (B, B) logits: max over queries of cosine(query feature, text [CLS] feature) / temperature."""
        video = F.normalize(self.connector(tokens, grid), dim=-1)  # (B, Q, E)
        text = F.normalize(self.text_proj(self.connector.encode_text(text_ids, text_mask)[:, 0]), dim=-1)  # (B, E)
        sim = torch.einsum("bqe,ce->bcq", video, text).amax(dim=-1)  # (B, B)
        return sim / self.temperature.clamp(0.001, 0.5), sim

    def pairs(self, inputs: Tensor, captions: Sequence[str], caption_ids: Sequence[Sequence[int]]):
        """The :class:`VideoTextPairs` the losses read, from the clips, their captions and the captions' ids."""
        from aegis_plugins.losses.vlm import VideoTextPairs

        tokens, grid = self.visual_tokens(inputs)
        text_ids, text_mask = self.pad(caption_ids, inputs.device)
        decoder_ids = text_ids.clone()
        decoder_ids[:, 0] = self.tokenizer.dec_id
        sim_v2t = sim_t2v = None
        if any(getattr(loss, "needs_similarity", False) for loss in self.losses):
            sim_v2t, _ = self.similarity(tokens, grid, text_ids, text_mask)
            sim_t2v = sim_v2t.t()
        same = torch.tensor([[a == b for b in captions] for a in captions], device=inputs.device)
        return VideoTextPairs(self.connector, tokens, grid, text_ids, text_mask, decoder_ids, sim_v2t, sim_t2v, same)

    @torch.no_grad()
    def generate(self, inputs: Tensor, max_new_tokens: int | None = None) -> list[str]:
        """Greedy captions through the Q-Former's own text path (BLIP-2's grounded generation)."""
        tokens, grid = self.visual_tokens(inputs)
        limit = min(max_new_tokens or self.max_new_tokens, self.max_text_length - 1)
        ids = torch.full((inputs.shape[0], 1), self.tokenizer.dec_id, dtype=torch.long, device=inputs.device)
        done = torch.zeros(inputs.shape[0], dtype=torch.bool, device=inputs.device)
        for _ in range(limit):
            logits = self.connector.caption_logits(tokens, grid, ids, torch.ones_like(ids))[:, -1]  # (B, V)
            logits[:, [self.tokenizer.pad_id, self.tokenizer.cls_id, self.tokenizer.dec_id]] = float("-inf")
            step = logits.argmax(dim=-1).masked_fill(done, self.tokenizer.pad_id)
            ids = torch.cat([ids, step[:, None]], dim=1)
            done |= step == self.tokenizer.sep_id
            if done.all():
                break
        texts = []
        for row in ids[:, 1:].tolist():
            row = row[:row.index(self.tokenizer.sep_id)] if self.tokenizer.sep_id in row else row
            texts.append(self.tokenizer.decode(row).strip())
        return texts

    # --- mmengine -----------------------------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples: Sequence[Mapping] | None = None, mode: str = "tensor"):
        """mmengine's entry point: ``inputs`` (B, C, T, H, W); in ``mode="loss"`` and ``"predict"`` every data
        sample carries ``caption`` and ``caption_ids`` (from the data preprocessor)."""
        if mode == "loss":
            pairs = self.pairs(inputs, *self._texts(data_samples, inputs.shape[0]))
            return {loss.loss_name: loss(pairs) for loss in self.losses}
        if mode == "predict":
            return self.predict(inputs, data_samples)
        if mode == "tensor":
            tokens, grid = self.visual_tokens(inputs)
            return self.connector.encode_queries(tokens, grid)
        raise ConfigError(f"QFormerPretrainer.forward: mode={mode!r}; expected 'loss', 'predict' or 'tensor'.")

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: Sequence[Mapping] | None) -> list[dict]:
        captions, caption_ids = self._texts(data_samples, inputs.shape[0])
        tokens, grid = self.visual_tokens(inputs)
        text_ids, text_mask = self.pad(caption_ids, inputs.device)
        logits, _ = self.similarity(tokens, grid, text_ids, text_mask)  # (B, B)
        same = torch.tensor([[a == b for b in captions] for a in captions], device=inputs.device)
        own = logits.masked_fill(~same, float("-inf")).amax(dim=1, keepdim=True)  # best score of a right caption
        first = torch.tensor([captions.index(c) == j for j, c in enumerate(captions)], device=inputs.device)
        ranks = ((logits > own) & ~same & first[None]).sum(dim=1)  # distinct wrong captions scored above it
        generated = self.generate(inputs)
        out = []
        for i, sample in enumerate(data_samples):
            kept = {k: sample[k] for k in _PASS_THROUGH if k in sample}  # what the caption metrics read
            kept.setdefault("captions", [captions[i]])
            out.append(dict(kept, pred_caption=generated[i], gt_caption=captions[i], text_rank=int(ranks[i])))
        return out
