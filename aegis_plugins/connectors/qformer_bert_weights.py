"""BERT weights into a Q-Former: the initialisation BLIP-2 uses for its Querying Transformer.

Li et al., "BLIP-2: Bootstrapping Language-Image Pre-training with Frozen Image Encoders and Large Language Models",
ICML 2023, Sec. 3.1: the Q-Former's self-attention, feed-forward blocks and embeddings start from BERT-base (Devlin
et al., 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"); the
cross-attention layers start random. Reads a local folder written by transformers' ``save_pretrained``; never
downloads.
"""
from __future__ import annotations

import glob
import json
import os

import torch
from torch import nn

from aegis.errors import CheckpointError

__all__ = ["load_bert_weights"]


def load_bert_weights(qformer: nn.Module, folder: str) -> None:
    """Initialise ``qformer`` (a :class:`~aegis_plugins.connectors.qformer.QFormer`) from transformers BERT weights in
    ``folder`` (config.json + *.safetensors or *.bin); sizes that do not match name the config key to change."""
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise CheckpointError(f"QFormer.bert_checkpoint={folder!r}: no config.json there; expected a folder "
                              "written by transformers' save_pretrained (config.json + model.safetensors).")
    with open(config_path) as f:
        config = json.load(f)
    intermediate = qformer.layers[0].ffn_query.fc1.out_features
    for ours, theirs, mine in (("hidden_size", "hidden_size", qformer.hidden_size),
                               ("num_heads", "num_attention_heads", qformer.num_heads),
                               ("intermediate_size", "intermediate_size", intermediate)):
        if config.get(theirs) != mine:
            raise CheckpointError(f"QFormer.bert_checkpoint={folder!r}: BERT has {theirs}={config.get(theirs)} "
                                  f"but the Q-Former has {ours}={mine}; set model.connector.{ours}="
                                  f"{config.get(theirs)} to use these weights.")
    if config.get("num_hidden_layers", 0) < len(qformer.layers):
        raise CheckpointError(f"QFormer.bert_checkpoint={folder!r}: BERT has {config.get('num_hidden_layers')}"
                              f" layers, fewer than depth={len(qformer.layers)}; lower model.connector.depth.")
    state = _read_weights(folder)
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    _copy_bert(qformer, state, folder)


@torch.no_grad()
def _copy_bert(qformer: nn.Module, state: dict, folder: str) -> None:
    def take(key: str) -> torch.Tensor:
        if key not in state:
            raise CheckpointError(f"QFormer.bert_checkpoint={folder!r}: key {key!r} is missing; the folder "
                                  "must hold BertModel (or BertForMaskedLM) weights.")
        return state[key]

    def copy(dst: torch.Tensor, src: torch.Tensor, key: str) -> None:
        if dst.shape != src.shape:
            raise CheckpointError(f"QFormer.bert_checkpoint={folder!r}: {key} has shape {tuple(src.shape)}, "
                                  f"the Q-Former expects {tuple(dst.shape)}.")
        dst.copy_(src)

    def copy_ln(ln: nn.LayerNorm, prefix: str) -> None:
        copy(ln.weight, take(prefix + ".weight"), prefix + ".weight")
        copy(ln.bias, take(prefix + ".bias"), prefix + ".bias")

    def copy_linear(lin: nn.Linear, prefix: str) -> None:
        copy(lin.weight, take(prefix + ".weight"), prefix + ".weight")
        copy(lin.bias, take(prefix + ".bias"), prefix + ".bias")

    copy_ln(qformer.embed_norm, "embeddings.LayerNorm")
    for i, layer in enumerate(qformer.layers):
        p = f"encoder.layer.{i}."
        attn = p + "attention.self."
        for part in ("weight", "bias"):
            fused = torch.cat([take(f"{attn}{n}.{part}") for n in ("query", "key", "value")], dim=0)
            copy(getattr(layer.self_attn.qkv, part), fused, f"{attn}query/key/value.{part}")
        copy_linear(layer.self_attn.proj, p + "attention.output.dense")
        copy_ln(layer.self_attn.norm, p + "attention.output.LayerNorm")
        for ffn in (layer.ffn_query, layer.ffn_text):
            if ffn is None:
                continue
            copy_linear(ffn.fc1, p + "intermediate.dense")
            copy_linear(ffn.fc2, p + "output.dense")
            copy_ln(ffn.norm, p + "output.LayerNorm")
    if qformer.text_vocab_size > 0:
        words = take("embeddings.word_embeddings.weight")
        n = min(words.shape[0], qformer.text_vocab_size)  # extra rows (added special tokens) stay random
        qformer.word_embeddings.weight[:n] = words[:n]
        positions = take("embeddings.position_embeddings.weight")
        if positions.shape[0] < qformer.max_text_length:
            raise CheckpointError(f"QFormer.bert_checkpoint={folder!r}: BERT has {positions.shape[0]} "
                                  f"positions, fewer than max_text_length={qformer.max_text_length}.")
        token_type = state.get("embeddings.token_type_embeddings.weight")
        positions = positions[:qformer.max_text_length]
        if token_type is not None:  # BERT always adds token type 0: fold it into the positions
            positions = positions + token_type[0]
        qformer.position_embeddings.weight.copy_(positions)
        head = "cls.predictions."
        if head + "transform.dense.weight" in state:
            copy_linear(qformer.lm_head.dense, head + "transform.dense")
            copy_ln(qformer.lm_head.norm, head + "transform.LayerNorm")
            bias = state.get(head + "bias")
            if bias is not None:
                qformer.lm_head.bias[:min(n, bias.shape[0])] = bias[:n]


def _read_weights(folder: str) -> dict:
    files = sorted(glob.glob(os.path.join(folder, "*.safetensors")))
    if files:
        from safetensors.torch import load_file
        state = {}
        for file in files:
            state.update(load_file(file))
        return state
    files = sorted(glob.glob(os.path.join(folder, "*.bin")))
    if not files:
        raise CheckpointError(f"QFormer.bert_checkpoint={folder!r}: no *.safetensors or *.bin weights found.")
    state = {}
    for file in files:
        try:
            state.update(torch.load(file, map_location="cpu", weights_only=True))
        except Exception as exc:
            raise CheckpointError(f"QFormer.bert_checkpoint: cannot read {file!r}: {exc}") from None
    return state
