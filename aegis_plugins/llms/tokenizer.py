"""A word-piece tokenizer trained on the caption corpus with the `tokenizers` library (no download).

BPE over SentencePiece-style ``Metaspace`` pre-tokenisation (Sennrich et al., 2016, "Neural Machine Translation of
Rare Words with Subword Units"): the alphabet is the characters of the corpus, so a vocabulary of a few dozen entries
is enough for tests and a few hundred covers the synthetic captions with whole words. The tokenizer is saved as
``tokenizer.json`` next to the language model's checkpoint and loaded from there.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from aegis.engine.checkpoint import atomic_write_text
from aegis.errors import CheckpointError, DataError

__all__ = ["CaptionTokenizer", "SPECIAL_TOKENS", "read_caption_corpus", "read_caption_groups", "DEFAULT_CORPUS"]

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")  # ids 0, 1, 2, 3

# Used only when neither a tokenizer file nor a corpus is given (tests, contract checks): enough to encode prompts.
DEFAULT_CORPUS = (
    "Describe the disaster in this video:",
    "Water level rising rapidly.", "Water level rising slowly.", "Fire spreading quickly to the east.",
    "Smoke plume drifting slowly.", "The ground is shaking violently.", "A landslide sliding down the slope.",
    "A calm scene with no disaster.",
)


class CaptionTokenizer:
    """Text <-> token ids for the tiny LM: ``encode(str) -> list[int]`` (no special tokens), ``decode(ids) -> str``.

    Wraps a ``tokenizers.Tokenizer`` whose ids 0-3 are ``<pad> <s> </s> <unk>``.
    """

    def __init__(self, tokenizer) -> None:
        self.backend = tokenizer
        ids = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
        if ids != [0, 1, 2, 3]:
            raise CheckpointError(f"tokenizer: special tokens {SPECIAL_TOKENS} must have ids 0-3, found {ids}; "
                                  "retrain it with CaptionTokenizer.train().")
        self.pad_token_id, self.bos_token_id, self.eos_token_id, self.unk_token_id = ids

    # --- construction ---------------------------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> "CaptionTokenizer":
        """Train BPE with ``vocab_size`` entries (special tokens included) on ``texts``."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        texts = [t for t in texts if t and t.strip()]
        if not texts:
            raise DataError("tokenizer: the caption corpus is empty; expected at least one non-empty caption.")
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), min_frequency=1,
                                      show_progress=False)
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CaptionTokenizer":
        """Load a ``tokenizer.json`` written by :meth:`save`."""
        from tokenizers import Tokenizer

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"tokenizer file {str(path)!r} does not exist; it is written next to the LM "
                                  "checkpoint by experiments/lm_pretrain_tiny.py (run it first), or set "
                                  "model.llm.tokenizer_file.")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:
            raise CheckpointError(f"tokenizer file {str(path)!r} could not be read: {exc}") from exc

    def save(self, path: str | os.PathLike) -> None:
        """Write ``tokenizer.json`` atomically."""
        atomic_write_text(self.backend.to_str(), path)

    # --- use ------------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return list(self.backend.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Iterable[int]) -> str:
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=True).strip()


def read_caption_corpus(path: str | os.PathLike) -> list[str]:
    """Every caption in a guide-format JSON (a list of ``{"video_path", "caption" | "captions"}``)."""
    return [caption for group in read_caption_groups(path) for caption in group]


def read_caption_groups(path: str | os.PathLike) -> list[list[str]]:
    """The captions of each video of a guide-format JSON, one list per video (entries without captions skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"caption corpus {str(path)!r} does not exist; expected the guide's JSON list of "
                        '{"video_path": ..., "caption": ...} entries (data.video_caption_pairs).')
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"caption corpus {str(path)!r} is not valid JSON: {exc}") from exc
    if isinstance(entries, dict):  # {video: [captions]} (mmaction's VideoTextDataset layout) is accepted too
        entries = [{"captions": v if isinstance(v, list) else [v]} for v in entries.values()]
    groups: list[list[str]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DataError(f"{path}: entry {index} is {type(entry).__name__}, expected an object with 'caption'.")
        captions = entry.get("captions") or ([entry["caption"]] if entry.get("caption") else [])
        if captions:
            groups.append([str(c) for c in captions])
    if not groups:
        raise DataError(f"caption corpus {str(path)!r} holds no captions.")
    return groups
