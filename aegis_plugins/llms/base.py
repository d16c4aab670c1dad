"""The small interface every LLM backend gives the video captioner (soft-prompt LLM conditioning as in BLIP-2,
Li et al., 2023, "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image Encoders and Large Language
Models").

A backend wraps a transformers causal LM (``self.model``) and a tokenizer and exposes: ``hidden_size``,
``embed_tokens(ids)``, ``forward(inputs_embeds, attention_mask, labels)``, ``generate(inputs_embeds, ...)``
(and ``generate_with_scores``, which adds each generated token's log-probability),
``encode(text)``/``decode(ids)`` and the special token ids. Frozen backends stay in eval mode and never require grad.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["CausalLMBackend", "load_weights", "save_weights"]


class CausalLMBackend(nn.Module):
    """Base of ``TinyCausalLM`` and ``HFCausalLM``: a causal LM driven by input embeddings.

    ``embed_tokens`` maps (B, L) ids to (B, L, D) embeddings; ``forward`` takes (B, L, D) embeddings with a (B, L)
    attention mask and optional (B, L) labels (-100 = ignored) and returns the transformers output (``loss``,
    ``logits`` (B, L, V)); ``generate`` returns (B, L_new) new token ids.
    """

    model: nn.Module
    frozen: bool

    # --- the tokenizer side ---------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        raise NotImplementedError

    def decode(self, ids) -> str:
        """Text of ``ids``, special tokens dropped."""
        raise NotImplementedError

    bos_token_id: int | None
    eos_token_id: int
    pad_token_id: int

    # --- the model side -------------------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return int(self.model.get_input_embeddings().embedding_dim)

    @property
    def embed_dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, D) input embeddings."""
        return self.model.get_input_embeddings()(ids)

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None):
        """(B, L, D) embeddings, (B, L) mask, (B, L) labels -> transformers output with ``loss`` and ``logits``."""
        return self.model(inputs_embeds=inputs_embeds.to(self.embed_dtype), attention_mask=attention_mask,
                          labels=labels, use_cache=False)

    @torch.no_grad()
    def generate(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int = 30,
                 num_beams: int = 1, length_penalty: float = 1.0, repetition_penalty: float = 1.0) -> torch.Tensor:
        """Greedy (``num_beams=1``) or beam search from (B, L, D) embeddings; returns (B, L_new) new token ids."""
        out = self.model.generate(**self._generate_kwargs(inputs_embeds, attention_mask, max_new_tokens, num_beams,
                                                          length_penalty, repetition_penalty))
        return out[:, -max_new_tokens:] if out.shape[1] > max_new_tokens else out  # (B, L_new)

    @torch.no_grad()
    def generate_with_scores(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                             max_new_tokens: int = 30, num_beams: int = 1, length_penalty: float = 1.0,
                             repetition_penalty: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`generate` plus the model's log-probability of every generated token.

        Returns the (B, L_new) new token ids and (B, L_new) float32 ``log p(token | prefix, earlier tokens)``, the
        log-softmax of the model's raw logits at each step (before a repetition penalty; along each returned beam with
        beam search), so their mean over a caption is its mean token log-likelihood. Positions after a sequence's
        ``</s>`` are padding and their values mean nothing.
        """
        out = self.model.generate(**self._generate_kwargs(inputs_embeds, attention_mask, max_new_tokens, num_beams,
                                                          length_penalty, repetition_penalty),
                                  return_dict_in_generate=True, output_logits=True)
        beam_indices = out.beam_indices if num_beams > 1 else None
        log_probs = self.model.compute_transition_scores(out.sequences, tuple(step.float() for step in out.logits),
                                                         beam_indices, normalize_logits=True)  # (B, L_new)
        sequences = out.sequences[:, out.sequences.shape[1] - log_probs.shape[1]:]  # (B, L_new): the new tokens
        return sequences, log_probs.float()

    def _generate_kwargs(self, inputs_embeds, attention_mask, max_new_tokens, num_beams, length_penalty,
                         repetition_penalty) -> dict:
        return dict(inputs_embeds=inputs_embeds.to(self.embed_dtype), attention_mask=attention_mask,
                    max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False,
                    length_penalty=length_penalty, repetition_penalty=repetition_penalty,
                    eos_token_id=self.eos_token_id, pad_token_id=self.pad_token_id, bos_token_id=self.bos_token_id,
                    early_stopping=num_beams > 1)

    def _freeze(self) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model.eval()

    def train(self, mode: bool = True):
        """A frozen backend stays in eval mode (no dropout) whatever the Runner asks; LoRA layers still train."""
        super().train(mode)
        if self.frozen and not getattr(self, "lora", None):
            self.model.eval()
        return self


def load_weights(path: str):
    """``aegis.engine.safe_load`` (weights_only=True, clear CheckpointError); a local equivalent until it lands."""
    try:
        from aegis.engine import safe_load
    except ImportError:
        from aegis.errors import CheckpointError

        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError as exc:
            raise CheckpointError(f"checkpoint {path!r} does not exist.") from exc
        except Exception as exc:
            raise CheckpointError(f"checkpoint {path!r} is truncated or corrupt: {exc}") from exc
    return safe_load(path)


def save_weights(obj, path) -> None:
    """``aegis.engine.atomic_save``: the whole file or the old one, never a torn write."""
    from aegis.engine import atomic_save

    atomic_save(obj, path)
