#!/usr/bin/env python
"""GPU memory estimate of the vlm_t4 recipe on a 16 GB T4, computed from the real model definitions on the meta device
(no weights, no GPU): parameters by component and storage, optimiser state, and the activations autograd keeps at
batch 4 with gradient checkpointing (measured with saved-tensor hooks on one layer of each stack).

    python tools/vlm_memory.py [--batch 4] [--seq-len 96]
"""
import argparse
import sys

GB = 1024 ** 3
# Llama 3.1 8B (Instruct) config.json values, so the estimate needs no download.
LLAMA31_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072, rope_theta=500000.0,
                  tie_word_embeddings=False)
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)  # 4-bit weights + double-quantised absmax (bitsandbytes, blocksize 64)


def _saved_bytes(fn, params) -> int:
    """Bytes of the activations autograd saves while running ``fn`` (frozen parameters themselves excluded)."""
    import torch

    ids = {id(p) for p in params}
    total = [0]

    def pack(t):
        if id(t) not in ids and not (t._base is not None and id(t._base) in ids):
            total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total[0]


def estimate(batch: int = 4, seq_len: int = 96, frames: int = 16, img: int = 224) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from aegis import plugins
    from aegis.build import build_component
    from aegis.registry import CONNECTORS, ENCODERS

    plugins.load()
    with torch.device("meta"):
        llm = LlamaForCausalLM(LlamaConfig(**LLAMA31_8B)).to(torch.float16)
        encoder = build_component(dict(type="VJEPAEncoder", arch="vit_large", patch_size=16, tubelet_size=2,
                                       num_frames=frames, img_size=img, frozen=True), ENCODERS)
        qformer = build_component(dict(type="QFormer", input_dim=encoder.embed_dim, output_dim=4096,
                                       num_query_tokens=32, depth=6, hidden_size=768, num_heads=12,
                                       intermediate_size=3072), CONNECTORS)
    for p in [*llm.parameters(), *encoder.parameters()]:
        p.requires_grad_(False)
    layers = llm.model.layers
    quantised = sum(m.weight.numel() for layer in layers for m in layer.modules() if isinstance(m, torch.nn.Linear))
    llm_params = sum(p.numel() for p in llm.parameters())
    out = dict(
        llm_params=llm_params, llm_quantised_params=quantised,
        llm_weights=quantised * NF4_BITS / 8 + (llm_params - quantised) * 2,  # embeddings, lm_head, norms in fp16
        encoder_params=sum(p.numel() for p in encoder.parameters()),
        qformer_params=sum(p.numel() for p in qformer.parameters()),
    )
    out["encoder_weights"] = out["encoder_params"] * 4  # fp32, frozen (AMP computes in fp16)
    out["qformer_weights_grads_adamw"] = out["qformer_params"] * (4 + 4 + 8)  # fp32 weights, grads, AdamW m and v

    # LLM activations: with checkpointing each layer keeps its fp16 input; backward recomputes one layer at a time.
    x = torch.zeros(batch, seq_len, 4096, device="meta", dtype=torch.float16, requires_grad=True)
    pos = torch.arange(seq_len, device="meta")[None].expand(batch, -1)
    rope = llm.model.rotary_emb(x, pos)
    one_layer = _saved_bytes(lambda: layers[0](x, attention_mask=None, position_embeddings=rope, position_ids=pos),
                             list(llm.parameters()))
    head = batch * seq_len * LLAMA31_8B["vocab_size"] * (2 + 4 + 4)  # fp16 logits, fp32 upcast and its softmax grad
    out["llm_activations"] = len(layers) * x.numel() * 2 + one_layer + head
    # Q-Former activations (its own checkpointing keeps one layer's worth plus the layer inputs).
    tokens = torch.zeros(batch, encoder.num_tokens, encoder.embed_dim, device="meta", dtype=torch.float16)
    qformer.half()
    full = _saved_bytes(lambda: qformer(tokens), list(qformer.parameters()))
    out["qformer_activations"] = full / 6 + 6 * batch * 32 * 768 * 2
    # Frozen encoder under no_grad: only the live tensors of one block (input, qkv, MLP hidden, output) at a time.
    n, d = encoder.num_tokens, encoder.embed_dim
    out["encoder_transient"] = batch * n * (d * 2 + 3 * d + 4 * d) * 2
    out["total"] = sum(v for k, v in out.items() if k.endswith(("weights", "adamw", "activations", "transient")))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=96, help="LLM tokens: 32 queries + <s> + prompt + caption")
    args = parser.parse_args(argv)
    r = estimate(args.batch, args.seq_len)
    rows = [
        ("Llama 3.1 8B weights, 4-bit NF4 (+fp16 embeddings/head)", r["llm_weights"]),
        ("V-JEPA ViT-L/16 weights, fp32 frozen", r["encoder_weights"]),
        ("Q-Former weights + grads + AdamW state (fp32)", r["qformer_weights_grads_adamw"]),
        (f"LLM activations, batch {args.batch} x {args.seq_len} tokens, checkpointed", r["llm_activations"]),
        ("Q-Former activations, checkpointed", r["qformer_activations"]),
        ("encoder forward (no_grad), one block live", r["encoder_transient"]),
    ]
    print(f"parameters: LLM {r['llm_params'] / 1e9:.2f} B ({r['llm_quantised_params'] / 1e9:.2f} B quantised), "
          f"encoder {r['encoder_params'] / 1e6:.0f} M, Q-Former {r['qformer_params'] / 1e6:.0f} M (trainable)")
    for name, value in rows:
        print(f"  {name:<68} {value / GB:6.2f} GiB")
    print(f"  {'total (plus ~0.5-1 GiB CUDA context and allocator slack)':<68} {r['total'] / GB:6.2f} GiB of 15 GiB "
          "usable on a 16 GB T4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
