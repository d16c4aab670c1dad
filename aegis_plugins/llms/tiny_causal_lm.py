"""A tiny Llama-architecture causal LM for CPU runs and tests (Touvron et al., 2023, "LLaMA: Open and Efficient
Foundation Language Models"), built from config with transformers' ``LlamaConfig``/``LlamaForCausalLM``.

Its tokenizer is trained on the caption corpus (``tokenizer.py``) and saved next to the checkpoint, so nothing is
downloaded. ``experiments/lm_pretrain_tiny.py`` trains it on caption text alone and exports ``lm/model.pth`` +
``lm/tokenizer.json`` + ``lm/config.json``; the video captioner then loads that export frozen, exactly the recipe
``vlm_t4`` uses with Llama 3.1 8B.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from aegis.engine.checkpoint import atomic_write_text
from aegis.errors import CheckpointError, ConfigError

from .base import CausalLMBackend, load_weights, save_weights
from .tokenizer import DEFAULT_CORPUS, CaptionTokenizer, read_caption_corpus

__all__ = ["TinyCausalLM", "export_tiny_lm"]

_ARCH_KEYS = ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size", "max_position_embeddings")


class TinyCausalLM(CausalLMBackend):
    """A small LlamaForCausalLM (``num_layers`` blocks of width ``hidden_size``) plus its own BPE tokenizer.

    Maps (B, L, D) input embeddings to (B, L, V) logits, V = ``vocab_size``. Weights come from ``checkpoint`` (an
    ``lm/model.pth`` written by ``experiments/lm_pretrain_tiny.py``; its ``tokenizer.json`` is read from the same
    folder unless ``tokenizer_file`` is set); without one the weights are random and the tokenizer is trained on
    ``corpus_file`` (a guide-format captions JSON) or, failing that, on a few built-in sentences. ``frozen`` (default)
    stops every gradient and keeps the model in eval mode.
    """

    def __init__(self, vocab_size: int = 512, hidden_size: int = 128, num_layers: int = 2, num_heads: int = 4,
                 intermediate_size: int | None = None, max_position_embeddings: int = 256,
                 checkpoint: str | None = None, tokenizer_file: str | None = None, corpus_file: str | None = None,
                 frozen: bool = True, seed: int | None = 0) -> None:
        super().__init__()
        from transformers import LlamaConfig, LlamaForCausalLM

        if hidden_size % num_heads:
            raise ConfigError(f"model.llm: hidden_size={hidden_size} must be divisible by num_heads={num_heads} "
                              f"(nearest valid num_heads: {_divisors_near(hidden_size, num_heads)}).")
        self.arch = dict(vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
                         intermediate_size=intermediate_size or 4 * hidden_size,
                         max_position_embeddings=max_position_embeddings)
        self.checkpoint, self.frozen, self.lora = checkpoint, frozen, None
        if checkpoint is not None:
            _check_export(checkpoint, self.arch)
        self.tokenizer = self._tokenizer(checkpoint, tokenizer_file, corpus_file, vocab_size)
        if self.tokenizer.vocab_size > vocab_size:
            raise ConfigError(f"model.llm.vocab_size={vocab_size} is smaller than the tokenizer's vocabulary "
                              f"({self.tokenizer.vocab_size} entries); set model.llm.vocab_size >= "
                              f"{self.tokenizer.vocab_size}.")
        self.pad_token_id = self.tokenizer.pad_token_id
        self.bos_token_id = self.tokenizer.bos_token_id
        self.eos_token_id = self.tokenizer.eos_token_id
        config = LlamaConfig(
            vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=self.arch["intermediate_size"],
            num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_heads,
            max_position_embeddings=max_position_embeddings, bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_id, pad_token_id=self.pad_token_id, tie_word_embeddings=True)
        rng_state = torch.random.get_rng_state()
        if seed is not None:
            torch.manual_seed(seed)
        self.model = LlamaForCausalLM(config)
        torch.random.set_rng_state(rng_state)
        if checkpoint is not None:
            self._load(checkpoint)
        if frozen:
            self._freeze()

    # --- construction helpers -------------------------------------------------------------------------------
    @staticmethod
    def _tokenizer(checkpoint, tokenizer_file, corpus_file, vocab_size) -> CaptionTokenizer:
        if tokenizer_file is not None:
            return CaptionTokenizer.load(tokenizer_file)
        if checkpoint is not None:
            return CaptionTokenizer.load(Path(checkpoint).parent / "tokenizer.json")
        texts = read_caption_corpus(corpus_file) if corpus_file is not None else list(DEFAULT_CORPUS)
        return CaptionTokenizer.train(texts, vocab_size)

    def _load(self, checkpoint: str) -> None:
        state = load_weights(checkpoint)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"model.llm.checkpoint={checkpoint!r} does not fit TinyCausalLM{self.arch}: "
                                  f"{str(exc).splitlines()[0]}") from exc

    # --- tokenizer side -------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids)


def _divisors_near(width: int, heads: int) -> list[int]:
    divisors = [d for d in range(1, width + 1) if width % d == 0]
    return sorted(divisors, key=lambda d: abs(d - heads))[:2]


def _check_export(checkpoint: str, arch: dict) -> None:
    """The export folder has the weights, and its config.json matches the architecture in the experiment."""
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(
            f"model.llm.checkpoint={checkpoint!r}: no such file. It is written by the tiny LM text pretraining "
            "(python tools/run.py experiments/lm_pretrain_tiny.py, part of `make demo`); run that first or set "
            "model.llm.checkpoint to its lm/model.pth.")
    config_path = path.parent / "config.json"
    if config_path.is_file():
        saved = json.loads(config_path.read_text(encoding="utf-8"))
        diff = {k: (saved.get(k), arch[k]) for k in _ARCH_KEYS if k in saved and saved[k] != arch[k]}
        if diff:
            listing = ", ".join(f"{k}: checkpoint {a} vs config {b}" for k, (a, b) in diff.items())
            raise CheckpointError(f"model.llm.checkpoint={checkpoint!r} was trained with a different architecture "
                                  f"({listing}); set model.llm.{next(iter(diff))}={diff[next(iter(diff))][0]} "
                                  "or retrain the LM.")


def export_tiny_lm(llm: TinyCausalLM, folder: str | os.PathLike) -> Path:
    """Write ``model.pth`` (weights), ``tokenizer.json`` and ``config.json`` (architecture) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "model.pth"
    save_weights({k: v.detach().cpu() for k, v in llm.model.state_dict().items()}, weights)
    llm.tokenizer.save(folder / "tokenizer.json")
    atomic_write_text(json.dumps(llm.arch, indent=2), folder / "config.json")
    return weights
