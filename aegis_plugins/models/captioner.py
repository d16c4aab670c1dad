"""Video captioning with a frozen video encoder, a trainable connector and a frozen LLM fed a soft visual prefix,
the BLIP-2 recipe (Li et al., 2023, "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image Encoders and
Large Language Models") applied to V-JEPA video tokens (Bardes et al., 2024, "Revisiting Feature Prediction for
Learning Visual Representations from Video").

The LLM reads ``<s> [Q prefix embeddings] prompt caption </s>``; the loss is cross-entropy on the caption tokens and
``</s>`` only. The dataset picks each sample's caption and the model's data preprocessor tokenizes it
(``caption_preprocessor.py``); the per-epoch sample hook is ``aegis_plugins/hooks/caption_samples.py``, CLI
inference ``captioner_inference.py``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from mmengine.model import BaseModel

from aegis.annotations import Component
from aegis.build import build_component
from aegis.contracts import Connector, LLMBackend, VideoEncoder
from aegis.engine.checkpoint import resolve_checkpoint
from aegis.errors import CheckpointError, ConfigError, MissingDependencyError

from .caption_preprocessor import CaptionDataPreprocessor, caption_ids_of

__all__ = ["VideoCaptioner", "IGNORE_INDEX"]

IGNORE_INDEX = -100  # label value the cross-entropy skips


class VideoCaptioner(BaseModel):
    """Frozen encoder -> connector -> soft prefix -> frozen LLM.

    ``inputs`` (B, C, T, H, W) -> encoder tokens (B, N, Dv) -> connector prefix (B, Q, Dllm) -> LLM. The connector's
    ``input_dim``/``output_dim`` are injected from ``encoder.embed_dim`` and ``llm.hidden_size`` (a config that sets
    them to other values is an error). ``mode="loss"`` returns ``dict(loss=...)`` (token cross-entropy on captions),
    ``mode="predict"`` returns one dict per sample with ``pred_caption`` (greedy, or beam search with
    ``num_beams > 1``) and the references, ``mode="tensor"`` the prefix (B, Q, Dllm). Only the connector (and LoRA
    adapters inside the LLM, if configured) receives gradients. ``encoder_checkpoint`` names a phase-1 work dir
    (e.g. ``work_dirs/vjepa_pretrain_tiny``: the checkpoint its ``last_checkpoint`` names) or file, and sets the
    encoder's ``checkpoint``. ``prefix_position`` puts the visual prefix before (BLIP-2) or after the prompt.
    ``motion_tokens`` appends the differences of consecutive time steps' tokens to the visual tokens (the connector
    then sees a grid of 2T'-1 time steps), a cheap explicit motion cue for speed words. The target is the sample's
    ``caption``, picked by the dataset (``dataset.sample_all_captions``) and tokenized by the model's data
    preprocessor (:meth:`tokenize_caption`, in ``train_step`` before ``forward``) into ``caption_ids``; the old
    ``sample_all_captions`` argument is kept only to say where it moved.
    Checkpoints hold the connector (and LoRA) plus any frozen part that has no weights file in the config; frozen
    parts loaded from a file (encoder checkpoint, LLM folder or checkpoint) are rebuilt from it unless
    ``save_frozen``.
    """

    def __init__(self, encoder: Component[VideoEncoder], connector: Component[Connector], llm: Component[LLMBackend],
                 prompt: str = "Describe the disaster in this video:",
                 max_caption_tokens: int = 32, max_new_tokens: int = 24, num_beams: int = 1,
                 sample_all_captions: bool | None = None, prefix_position: str = "before_prompt",
                 encoder_checkpoint: str | None = None, motion_tokens: bool = False, save_frozen: bool = False,
                 data_preprocessor: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if sample_all_captions is not None:
            raise ConfigError(f"model.sample_all_captions={sample_all_captions} moved to the training dataset: the "
                              "dataset picks each sample's caption once. Remove it from model and set "
                              f"train_dataloader.dataset.sample_all_captions={sample_all_captions}.")
        if num_beams < 1 or max_new_tokens < 1 or max_caption_tokens < 1:
            raise ConfigError(f"model: num_beams={num_beams}, max_new_tokens={max_new_tokens} and "
                              f"max_caption_tokens={max_caption_tokens} must all be >= 1.")
        # First the things that may be missing (weights, GPU, packages), all reported together before any build.
        problems: list[Exception] = []
        if encoder_checkpoint is not None:  # a phase-1 work dir (its last checkpoint) or a file
            try:
                encoder = dict(encoder, checkpoint=resolve_checkpoint(encoder_checkpoint, "model.encoder_checkpoint"))
            except CheckpointError as exc:
                problems.append(exc)
        try:
            self.llm = build_component(llm, LLMBackend, path="model.llm")
        except (CheckpointError, MissingDependencyError) as exc:
            problems.append(exc)
        if problems:
            if len(problems) == 1:
                raise problems[0]
            raise CheckpointError("\n".join(str(p) for p in problems))
        self.encoder = build_component(encoder, VideoEncoder, path="model.encoder")
        self.connector = build_component(connector, Connector, path="model.connector",
                                         input_dim=int(self.encoder.embed_dim), output_dim=int(self.llm.hidden_size))
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder.eval()
        # Frozen weights that come from a file named in the config are not repeated in every training checkpoint
        # (a 4-bit 8B LLM or a ViT-L would make each one gigabytes); LoRA adapters and the connector always are.
        self._external = set()
        if not save_frozen and isinstance(encoder, Mapping) and encoder.get("checkpoint"):
            self._external.add("encoder.")
        if not save_frozen and self.llm.frozen and isinstance(llm, Mapping) and (
                llm.get("checkpoint") or llm.get("name_or_path")):
            self._external.add("llm.")
        self.register_state_dict_post_hook(_drop_external_weights)
        if prefix_position not in ("before_prompt", "after_prompt"):
            raise ConfigError(f"model.prefix_position={prefix_position!r}; expected 'before_prompt' (BLIP-2's "
                              "layout) or 'after_prompt'.")
        self.motion_tokens = motion_tokens
        self.prompt, self.prefix_position, self.max_caption_tokens = prompt, prefix_position, max_caption_tokens
        self.max_new_tokens, self.num_beams = max_new_tokens, num_beams
        self.bos_ids = [self.llm.bos_token_id] if self.llm.bos_token_id is not None else []
        self.prompt_ids = self.llm.encode(prompt) if prompt else []
        self.data_preprocessor = CaptionDataPreprocessor(self.tokenize_caption, self.data_preprocessor,
                                                         "VideoCaptioner")

    def tokenize_caption(self, caption: str) -> list[int]:
        """The target ids of ``caption``: the LLM's tokens of `` caption`` (at most ``max_caption_tokens``) and
        ``</s>``. Called by the data preprocessor, never inside ``forward``."""
        return self.llm.encode(" " + caption.strip())[: self.max_caption_tokens] + [self.llm.eos_token_id]

    def train(self, mode: bool = True):
        """The encoder and a frozen LLM stay in eval mode; the connector follows ``mode``."""
        super().train(mode)
        self.encoder.eval()
        self.llm.train(mode)
        return self

    # --- pieces ---------------------------------------------------------------------------------------------
    def visual_prefix(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) clips -> (B, Q, Dllm) soft prefix."""
        with torch.no_grad():
            tokens = self.encoder(inputs)  # (B, N, Dv)
        grid = self.encoder.grid_of(inputs.shape)
        if grid is not None and grid[0] * grid[1] * grid[2] != tokens.shape[1]:
            grid = None
        if self.motion_tokens:
            if grid is None:
                raise ConfigError("model.motion_tokens=True needs an encoder with a (T', H', W') token grid "
                                  "(grid_of); this encoder has none.")
            batch, _, width = tokens.shape
            steps = tokens.reshape(batch, grid[0], grid[1] * grid[2], width)  # (B, T', H'W', Dv)
            motion = steps[:, 1:] - steps[:, :-1]  # (B, T'-1, H'W', Dv)
            tokens = torch.cat([steps, motion], dim=1).reshape(batch, -1, width)  # (B, (2T'-1) H'W', Dv)
            grid = (2 * grid[0] - 1, grid[1], grid[2])
        return self.connector(tokens.detach(), grid=grid)  # (B, Q, Dllm)

    def assemble(self, prefix: torch.Tensor, caption_ids: Sequence[Sequence[int]] | None = None,
                 prompt_ids: Sequence[int] | None = None):
        """Lay out ``<s> prefix prompt [caption </s>]`` (or ``<s> prompt prefix [caption </s>]`` with
        ``prefix_position="after_prompt"``) per sample, right-padded; ``caption_ids`` are B rows of
        :meth:`tokenize_caption` ids (``</s>`` included).

        Returns ``embeds`` (B, L, Dllm), ``attention_mask`` (B, L) and ``labels`` (B, L): the caption token ids and
        ``</s>`` at their positions, :data:`IGNORE_INDEX` at every ``<s>``, prefix, prompt and padding position.
        Without captions (generation) every sample has the same length and ``labels`` is None.
        """
        batch, num_queries, _ = prefix.shape
        device = prefix.device
        prompt_ids = list(self.prompt_ids if prompt_ids is None else prompt_ids)
        after = self.prefix_position == "after_prompt"
        head_ids = self.bos_ids + (prompt_ids if after else [])  # tokens before the prefix
        given = [] if after else prompt_ids  # tokens between the prefix and the caption
        tail_ids = [list(given) for _ in range(batch)]
        caption_lens = [0] * batch
        for i, ids in enumerate(caption_ids or []):
            tail_ids[i] += list(ids)
            caption_lens[i] = len(ids)
        width = max(len(t) for t in tail_ids)
        tail = torch.full((batch, width), self.llm.pad_token_id, dtype=torch.long, device=device)  # (B, Lt)
        tail_mask = torch.zeros(batch, width, dtype=torch.long, device=device)
        for i, ids in enumerate(tail_ids):
            tail[i, : len(ids)] = torch.tensor(ids, dtype=torch.long, device=device)
            tail_mask[i, : len(ids)] = 1
        parts = [prefix]
        if head_ids:
            head = torch.tensor(head_ids, dtype=torch.long, device=device)
            parts.insert(0, self.llm.embed_tokens(head).to(prefix.dtype).unsqueeze(0).expand(batch, -1, -1))
        if width:
            parts.append(self.llm.embed_tokens(tail).to(prefix.dtype))
        embeds = torch.cat(parts, dim=1)  # (B, L, D)
        lead = len(head_ids) + num_queries
        mask = torch.cat([torch.ones(batch, lead, dtype=torch.long, device=device), tail_mask], dim=1)  # (B, L)
        if caption_ids is None:
            return embeds, mask, None
        labels = torch.full((batch, lead + width), IGNORE_INDEX, dtype=torch.long, device=device)  # (B, L)
        for i, n in enumerate(caption_lens):
            labels[i, lead + len(given): lead + len(given) + n] = tail[i, len(given): len(given) + n]
        return embeds, mask, labels

    # --- mmengine entry points ------------------------------------------------------------------------------
    def forward(self, inputs: torch.Tensor, data_samples: Sequence[Mapping] | None = None, mode: str = "tensor"):
        """mmengine's entry point: ``inputs`` (B, C, T, H, W); in ``mode="loss"`` every data sample carries
        ``caption_ids`` from the data preprocessor."""
        if mode == "loss":
            caption_ids = caption_ids_of(data_samples, inputs.shape[0], "VideoCaptioner")
            prefix = self.visual_prefix(inputs)
            embeds, mask, labels = self.assemble(prefix, caption_ids)
            out = self.llm(inputs_embeds=embeds, attention_mask=mask, labels=labels)
            return dict(loss=out.loss.float())
        if mode == "predict":
            texts = self.generate(inputs)
            samples = data_samples if data_samples is not None else [{} for _ in texts]
            return [_prediction(text, sample) for text, sample in zip(texts, samples)]
        if mode == "tensor":
            return self.visual_prefix(inputs)
        raise ConfigError(f"VideoCaptioner.forward: mode={mode!r}; expected 'loss', 'predict' or 'tensor'.")

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor, max_new_tokens: int | None = None, num_beams: int | None = None,
                 prompt: str | None = None) -> list[str]:
        """(B, C, T, H, W) clips -> B generated captions (greedy when ``num_beams == 1``, else beam search)."""
        embeds, mask = self._generation_inputs(inputs, prompt)
        ids = self.llm.generate(embeds, mask, max_new_tokens=max_new_tokens or self.max_new_tokens,
                                num_beams=num_beams or self.num_beams)  # (B, L_new)
        return [self.llm.decode(row[: _caption_length(row, self.llm.eos_token_id)]) for row in ids.tolist()]

    @torch.no_grad()
    def generate_with_confidence(self, inputs: torch.Tensor, max_new_tokens: int | None = None,
                                 num_beams: int | None = None,
                                 prompt: str | None = None) -> tuple[list[str], torch.Tensor]:
        """:meth:`generate` plus each caption's confidence: (B,) ``exp(mean log p)`` over its generated tokens and the
        ``</s>`` that ended it (all tokens when it ran to ``max_new_tokens``), i.e. the geometric-mean probability the
        LLM gave the tokens it chose. Needs a backend with ``generate_with_scores`` (every ``CausalLMBackend``)."""
        scorer = getattr(self.llm, "generate_with_scores", None)
        if scorer is None:
            raise ConfigError(f"model.llm: {type(self.llm).__name__} has no generate_with_scores(), so its captions "
                              "carry no confidence; derive the backend from aegis_plugins.llms.base.CausalLMBackend "
                              "or add that method (it returns the new ids and their log-probabilities).")
        embeds, mask = self._generation_inputs(inputs, prompt)
        ids, log_probs = scorer(embeds, mask, max_new_tokens=max_new_tokens or self.max_new_tokens,
                                num_beams=num_beams or self.num_beams)  # (B, L_new) each
        texts, confidences = [], []
        for row, row_log_probs in zip(ids.tolist(), log_probs):
            length = _caption_length(row, self.llm.eos_token_id)
            texts.append(self.llm.decode(row[:length]))
            scored = min(length + 1, len(row))  # the caption's tokens and the </s> that ended it
            confidences.append(row_log_probs[:scored].mean().exp() if scored else row_log_probs.new_tensor(0.0))
        return texts, torch.stack(confidences)  # (B,)

    def _generation_inputs(self, inputs: torch.Tensor, prompt: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The (B, L, Dllm) embeddings and (B, L) mask that generation starts from."""
        prompt_ids = None if prompt is None else (self.llm.encode(prompt) if prompt else [])
        embeds, mask, _ = self.assemble(self.visual_prefix(inputs), prompt_ids=prompt_ids)
        return embeds, mask


def _caption_length(row: Sequence[int], eos_token_id: int) -> int:
    """How many of ``row``'s generated ids are the caption: those before its first ``</s>``."""
    return row.index(eos_token_id) if eos_token_id in row else len(row)


def _drop_external_weights(module: VideoCaptioner, state_dict, prefix: str, local_metadata) -> None:
    """state_dict post-hook: remove the frozen weights whose source file the config names (LoRA weights stay)."""
    for key in list(state_dict):
        name = key[len(prefix):]
        if any(name.startswith(part) for part in module._external) and "lora_" not in name:
            del state_dict[key]


def _prediction(text: str, sample: Mapping) -> dict:
    keep = ("caption", "captions", "label", "class_name", "params", "video_path")
    out = {k: sample[k] for k in keep if k in sample}
    out["pred_caption"] = text
    return out
