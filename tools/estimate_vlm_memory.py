#!/usr/bin/env python
"""Estimate the GPU memory of a ``vlm_t4`` training step on a 16 GB T4 from the real model definitions.

Nothing is downloaded and nothing is allocated: the encoder (``VJEPAEncoder``), the connector (our ``QFormer``) and
Llama 3.1 8B (transformers ``LlamaConfig`` with its published sizes) are built on the ``meta`` device. Parameters are
counted from the modules; activations are the tensors autograd saves for the backward pass, recorded with
``torch.autograd.graph.saved_tensors_hooks`` while the real forward code runs on meta tensors (frozen weights that
autograd keeps for the input gradient are weights, not activations, and are not counted twice). The frozen encoder
runs under ``no_grad``: its cost is the peak of live intermediate tensors, tracked op by op.

    .venv/bin/python tools/estimate_vlm_memory.py [--batch 4] [--out docs/vlm_memory.md]

Assumptions the script cannot measure are arguments and are printed with the result: the CUDA context, the prompt
length in Llama tokens, and an allocator-fragmentation margin.
"""
from __future__ import annotations

import argparse
import os
import sys
import weakref
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from aegis.engine.checkpoint import atomic_write_text

GIB = 2 ** 30
MIB = 2 ** 20

# Llama 3.1 8B (meta-llama/Llama-3.1-8B-Instruct config.json), no download needed.
LLAMA31_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072, rope_theta=500000.0,
                  rms_norm_eps=1e-5, tie_word_embeddings=False,
                  rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                    original_max_position_embeddings=8192))
# experiments/vlm_t4.py: V-JEPA ViT-L/16 at 16 frames x 224 px, the guide's Q-Former.
VJEPA_VITL16 = dict(type="VJEPAEncoder", arch="vit_large", patch_size=16, tubelet_size=2, num_frames=16, img_size=224,
                    frozen=True)
QFORMER_GUIDE = dict(type="QFormer", num_query_tokens=32, depth=6, hidden_size=768, num_heads=12,
                     intermediate_size=3072, gradient_checkpointing=True)
T4_USABLE_GIB = 15.0  # a 16 GB T4 reports 15360 MiB; the driver keeps part of it


@dataclass
class Line:
    """One row of the estimate: what, bytes, how it was obtained."""

    item: str
    bytes: float
    how: str


@dataclass
class Estimate:
    lines: list[Line] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    def add(self, item: str, nbytes: float, how: str) -> None:
        self.lines.append(Line(item, float(nbytes), how))

    @property
    def total(self) -> float:
        return sum(line.bytes for line in self.lines)


# --- measuring on the meta device ---------------------------------------------------------------------------
def saved_activation_bytes(fn, module: nn.Module | None = None) -> int:
    """Bytes of the tensors autograd saves while ``fn()`` runs, leaving out ``module``'s parameters (and views)."""
    params = {id(p) for p in module.parameters()} if module is not None else set()
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        base = t._base if t._base is not None else t
        if id(t) not in params and id(base) not in params:
            seen[id(base)] = base.numel() * base.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


class _PeakLive(TorchDispatchMode):
    """Tracks the peak bytes of live tensors created by ops (views and in-place results excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0

    def _release(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if getattr(func, "is_view", False):
            return out
        inputs = {id(a) for a in args if isinstance(a, torch.Tensor)}
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and id(t) not in inputs:
                nbytes = t.numel() * t.element_size()
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._release, nbytes)
        return out


def _memory_efficient_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                           enable_gqa=False):
    """Stand-in for SDPA with the allocations of the memory-efficient kernel (what a T4 runs in fp16): the output
    and a fp32 log-sum-exp, no (N, N) matrix (the meta device would otherwise decompose to the math path)."""
    query.new_empty(query.shape[:-1], dtype=torch.float32)  # logsumexp (B, h, N)
    return query.new_empty(*query.shape[:-1], value.shape[-1])  # (B, h, N, d)


def peak_live_bytes(fn) -> int:
    """Peak bytes of intermediate tensors alive at once while ``fn()`` runs (inputs and weights not included)."""
    mode = _PeakLive()
    with mode:
        fn()
    return mode.peak


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- the three parts ------------------------------------------------------------------------------------------
def build_meta(cfg: dict, registry_name: str, **injected) -> nn.Module:
    from aegis import plugins
    from aegis.build import build_component
    from aegis.registry import COMPONENT_REGISTRIES

    plugins.load()
    with torch.device("meta"):
        return build_component(dict(cfg), COMPONENT_REGISTRIES[registry_name], **injected)


def build_llama(config: dict, dtype=torch.float16) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    llama_config = LlamaConfig(**config)
    llama_config._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = LlamaForCausalLM(llama_config).to(dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def quantized_linear_params(llm: nn.Module) -> tuple[int, int]:
    """(params in the decoder's Linear layers, which bitsandbytes quantises; every other parameter).

    transformers keeps the output head (``lm_head``) and the embeddings in 16 bit when loading in 4 bit.
    """
    quantized = sum(m.weight.numel() for name, m in llm.named_modules()
                    if isinstance(m, nn.Linear) and not name.endswith("lm_head"))
    return quantized, param_count(llm) - quantized


def nf4_bytes_per_param(double_quant: bool = True, blocksize: int = 64) -> float:
    """bitsandbytes NF4: 4 bits per weight plus one absmax per block (fp32, or 8 bit with a fp32 per 256 blocks)."""
    if double_quant:
        return 0.5 + 1.0 / blocksize + 4.0 / (blocksize * 256)
    return 0.5 + 4.0 / blocksize


def llm_activation_bytes(llm: nn.Module, batch: int, seq: int) -> dict:
    """Saved activations of one decoder layer, of the final norm + head + fp32 cross-entropy, and a layer input."""
    hidden = llm.config.hidden_size
    dtype = next(llm.parameters()).dtype
    h = torch.randn(batch, seq, hidden, device="meta", dtype=dtype, requires_grad=True)  # (B, L, D)
    positions = torch.arange(seq, device="meta")[None].expand(batch, -1)
    rotary = llm.model.rotary_emb(h, positions)
    layer = llm.model.layers[0]

    def one_layer():
        out = layer(h, attention_mask=None, position_ids=positions, position_embeddings=rotary)
        return out[0] if isinstance(out, tuple) else out

    def head():
        logits = llm.lm_head(llm.model.norm(h))  # (B, L, V)
        labels = torch.zeros(batch * seq, dtype=torch.long, device="meta")
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels)

    return dict(layer=saved_activation_bytes(one_layer, llm), head=saved_activation_bytes(head, llm),
                layer_input=h.numel() * h.element_size(), layers=llm.config.num_hidden_layers,
                biggest_weight=max(m.weight.numel() for name, m in llm.named_modules()
                                   if isinstance(m, nn.Linear) and not name.endswith("lm_head")))


def qformer_activation_bytes(qformer: nn.Module, visual: torch.Tensor, grid) -> dict:
    """Saved activations per Q-Former layer (no checkpointing) and the checkpointed layer inputs."""
    tokens, steps = qformer.prepare_visual(visual, grid)
    query = qformer.embed_norm(qformer.query_tokens.expand(visual.shape[0], -1, -1))  # (B, Q, D)
    per_layer = []
    x = query
    for layer in qformer.layers:
        def run(layer=layer, x=x):
            return layer(x, tokens, steps, None, x.shape[1])
        per_layer.append(saved_activation_bytes(run, qformer))
        x = run()
    proj = saved_activation_bytes(lambda: qformer.output_proj(x), qformer)
    return dict(per_layer=per_layer, layer_input=query.numel() * query.element_size(), projection=proj)


def estimate(batch: int = 4, encoder_cfg: dict = VJEPA_VITL16, qformer_cfg: dict = QFORMER_GUIDE,
             llama_cfg: dict = LLAMA31_8B, prompt_tokens: int = 10, caption_tokens: int = 48,
             encoder_dtype: torch.dtype = torch.float32, cuda_context_gib: float = 0.4,
             fragmentation: float = 0.10, llm_checkpointing: bool = False) -> Estimate:
    """The memory of one ``vlm_t4`` training step (fp16 AMP, frozen encoder and 4-bit LLM, trainable Q-Former)."""
    est = Estimate()
    encoder = build_meta(encoder_cfg, "ENCODERS").to(encoder_dtype)
    frames, size = encoder_cfg["num_frames"], encoder_cfg["img_size"]
    video = torch.randn(batch, 3, frames, size, size, device="meta", dtype=encoder_dtype)  # (B, C, T, H, W)
    grid = encoder.grid_of(video.shape)
    llm = build_llama(llama_cfg)
    qformer = build_meta(qformer_cfg, "CONNECTORS", input_dim=encoder.embed_dim, output_dim=llm.config.hidden_size)
    queries = qformer.num_output_tokens
    seq = 1 + queries + prompt_tokens + caption_tokens + 1  # <s> prefix prompt caption </s>

    # weights
    enc_params, q_params = param_count(encoder), param_count(qformer)
    quantized, unquantized = quantized_linear_params(llm)
    est.facts.update(encoder_params=enc_params, qformer_params=q_params, llm_params=quantized + unquantized,
                     llm_quantized=quantized, llm_unquantized=unquantized, seq=seq, grid=grid, batch=batch,
                     tokens=grid[0] * grid[1] * grid[2], queries=queries, prompt_tokens=prompt_tokens,
                     caption_tokens=caption_tokens)
    est.add("LLM weights, decoder Linear layers in NF4 (double quant)", quantized * nf4_bytes_per_param(),
            f"{quantized / 1e9:.2f} B params x {nf4_bytes_per_param():.4f} B")
    est.add("LLM weights kept in fp16 (embeddings, lm_head, norms)", unquantized * 2,
            f"{unquantized / 1e9:.2f} B params x 2 B")
    est.add(f"encoder weights ({str(encoder_dtype).removeprefix('torch.')}, frozen)",
            sum(p.numel() * p.element_size() for p in encoder.parameters()), f"{enc_params / 1e6:.0f} M params")
    est.add("Q-Former weights (fp32 master copy)", q_params * 4, f"{q_params / 1e6:.1f} M params x 4 B")
    est.add("Q-Former gradients (fp32)", q_params * 4, "trainable params x 4 B")
    est.add("AdamW state (exp_avg, exp_avg_sq in fp32)", q_params * 8, "trainable params x 8 B")

    # activations
    half_encoder = build_meta(encoder_cfg, "ENCODERS").half()  # AMP runs the frozen encoder in fp16
    half_video = video.half()
    sdpa = F.scaled_dot_product_attention
    try:
        F.scaled_dot_product_attention = _memory_efficient_sdpa
        with torch.no_grad():
            peak = peak_live_bytes(lambda: half_encoder(half_video))
    finally:
        F.scaled_dot_product_attention = sdpa
    est.add("encoder forward in fp16, no_grad (peak of live intermediates)", peak,
            f"measured op by op at batch {batch}, memory-efficient SDPA")
    visual = torch.randn(batch, est.facts["tokens"], encoder.embed_dim, device="meta", dtype=torch.float16)
    est.add("visual tokens kept for the Q-Former (fp16)", visual.numel() * 2, f"(B, N, Dv) = {tuple(visual.shape)}")
    q_acts = qformer_activation_bytes(qformer.float(), visual.float(), grid)
    checkpointed = len(q_acts["per_layer"]) * q_acts["layer_input"] + max(q_acts["per_layer"])
    full = sum(q_acts["per_layer"])
    est.facts.update(qformer_full=full + q_acts["projection"], qformer_checkpointed=checkpointed + q_acts["projection"])
    chosen = checkpointed if qformer.gradient_checkpointing else full
    est.add(f"Q-Former saved activations ({'checkpointed' if qformer.gradient_checkpointing else 'all layers'}, "
            "fp32 bound)", chosen + q_acts["projection"],
            f"measured; without checkpointing {(full + q_acts['projection']) / MIB:.0f} MiB")
    llm_acts = llm_activation_bytes(llm, batch, seq)
    no_ckpt = llm_acts["layers"] * llm_acts["layer"]
    with_ckpt = llm_acts["layers"] * llm_acts["layer_input"] + llm_acts["layer"]
    est.facts.update(llm_layers_full=no_ckpt, llm_layers_checkpointed=with_ckpt)
    est.add(f"LLM saved activations, {llm_acts['layers']} layers "
            f"({'checkpointed' if llm_checkpointing else 'no checkpointing'})",
            with_ckpt if llm_checkpointing else no_ckpt,
            f"measured per layer x {llm_acts['layers']}, L={seq}; "
            f"{'without' if llm_checkpointing else 'with'} checkpointing "
            f"{(no_ckpt if llm_checkpointing else with_ckpt) / MIB:.0f} MiB")
    est.add("LLM head: logits, fp32 upcast and log-softmax for the loss", llm_acts["head"],
            f"measured, (B, L, V) = ({batch}, {seq}, {llm.config.vocab_size})")
    est.add("bitsandbytes dequantised weight (transient, largest Linear)", llm_acts["biggest_weight"] * 2,
            "largest quantised matrix in fp16")
    subtotal = est.total
    est.add(f"allocator fragmentation margin ({fragmentation:.0%})", subtotal * fragmentation, "assumption")
    est.add("CUDA context + cuBLAS workspace", cuda_context_gib * GIB, "assumption (not allocated by PyTorch)")
    return est


def to_markdown(est: Estimate, budget_gib: float = T4_USABLE_GIB) -> str:
    f = est.facts
    rows = "\n".join(f"| {line.item} | {line.bytes / GIB:.3f} | {line.how} |" for line in est.lines)
    verdict = "fits" if est.total / GIB <= budget_gib else "does NOT fit"
    return (
        "# Memory estimate: `vlm_t4` on a 16 GB T4\n\n"
        "Generated by `tools/estimate_vlm_memory.py` (do not edit by hand) from the real model definitions on the "
        "meta device: V-JEPA ViT-L/16 (`VJEPAEncoder`), the guide's `QFormer` and Llama 3.1 8B built from "
        "transformers' `LlamaConfig` with its published sizes (nothing downloaded). Activations are the tensors "
        "autograd saves for the backward pass, recorded while the real forward code runs on meta tensors.\n\n"
        f"Setting: batch {f['batch']} (gradient accumulation does not add memory), clip 16 x 224 x 224 -> token grid "
        f"{f['grid']} = {f['tokens']} tokens; LLM sequence L = {f['seq']} (BOS + {f['queries']} prefix + "
        f"{f['prompt_tokens']} prompt + {f['caption_tokens']} caption tokens + EOS); fp16 AMP.\n\n"
        f"Parameters: encoder {f['encoder_params'] / 1e6:.1f} M, Q-Former {f['qformer_params'] / 1e6:.1f} M "
        f"(trainable), Llama {f['llm_params'] / 1e9:.2f} B ({f['llm_quantized'] / 1e9:.2f} B in 4-bit Linear "
        f"layers, {f['llm_unquantized'] / 1e9:.2f} B in fp16).\n\n"
        "| item | GiB | how |\n| --- | ---: | --- |\n"
        f"{rows}\n| **total** | **{est.total / GIB:.2f}** | budget {budget_gib:.1f} GiB usable: **{verdict}** |\n\n"
        "Notes:\n"
        f"- Q-Former activations: {f['qformer_checkpointed'] / MIB:.0f} MiB with gradient checkpointing, "
        f"{f['qformer_full'] / MIB:.0f} MiB without (fp32 upper bound; AMP halves most of it).\n"
        f"- LLM activations over its 32 layers: {f['llm_layers_full'] / GIB:.2f} GiB as configured (the gradient "
        "must flow through the frozen LLM back to the prefix), "
        f"{f['llm_layers_checkpointed'] / GIB:.2f} GiB with `model.llm.gradient_checkpointing=True`.\n"
        "- The encoder is frozen and runs under `no_grad` and fp16 autocast: only its peak of live intermediates "
        "counts, with attention as the memory-efficient SDPA kernel a T4 uses (no N x N matrix; the math kernel "
        "would add about 0.6 GiB at batch 4).\n"
        "- Not counted: the dataloader's pinned host memory (CPU side) and evaluation-time beam search "
        "(no gradients, smaller than a training step).\n"
        "- Weights stay fp32 for the encoder as configured; `encoder.half()` would save half of that line.\n"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=10, help="prompt length in Llama tokens")
    parser.add_argument("--caption-tokens", type=int, default=48, help="model.max_caption_tokens of vlm_t4")
    parser.add_argument("--cuda-context-gib", type=float, default=0.4)
    parser.add_argument("--llm-checkpointing", action="store_true", help="estimate with LLM gradient checkpointing")
    parser.add_argument("--out", default="docs/vlm_memory.md", help="markdown file to write ('-' prints only)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    est = estimate(batch=args.batch, prompt_tokens=args.prompt_tokens, caption_tokens=args.caption_tokens,
                   cuda_context_gib=args.cuda_context_gib, llm_checkpointing=args.llm_checkpointing)
    text = to_markdown(est)
    print(text)
    if args.out != "-":
        atomic_write_text(text, args.out)
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
