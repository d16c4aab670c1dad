"""Tests of tools/estimate_vlm_memory.py: meta-device measurements and the estimate's arithmetic, at tiny sizes."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

TOOL = Path(__file__).resolve().parents[2] / "tools" / "estimate_vlm_memory.py"
spec = importlib.util.spec_from_file_location("estimate_vlm_memory", TOOL)
mem = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mem  # dataclasses look their module up there
spec.loader.exec_module(mem)

TINY_LLAMA = dict(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False)
TINY_ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
                    num_frames=4, img_size=16)
TINY_QFORMER = dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2, intermediate_size=64,
                    gradient_checkpointing=True)


def tiny(batch=2, **kwargs):
    return mem.estimate(batch=batch, encoder_cfg=TINY_ENCODER, qformer_cfg=TINY_QFORMER, llama_cfg=TINY_LLAMA,
                        prompt_tokens=3, caption_tokens=5, **kwargs)


def test_saved_activations_count_what_autograd_keeps_and_not_frozen_weights():
    layer = nn.Linear(8, 16)
    layer.weight.requires_grad_(False)
    layer.bias.requires_grad_(False)
    x = torch.randn(4, 8, device="meta", requires_grad=True)
    with torch.device("meta"):
        frozen = layer.to("meta")
    assert mem.saved_activation_bytes(lambda: torch.relu(frozen(x)), frozen) == 4 * 16 * 4  # relu output only
    frozen.weight.requires_grad_(True)  # now the input is kept for the weight gradient
    assert mem.saved_activation_bytes(lambda: torch.relu(frozen(x)), frozen) == 4 * 16 * 4 + 4 * 8 * 4


def test_peak_live_bytes_follows_tensor_lifetimes():
    x = torch.randn(1024, device="meta")

    def chain():
        a = x * 2  # 4 KiB live
        b = a * 2  # 8 KiB live
        del a
        c = b * 2  # a freed: still 8 KiB
        return c

    assert mem.peak_live_bytes(chain) == 2 * 1024 * 4


def test_nf4_bytes_per_param():
    assert mem.nf4_bytes_per_param(double_quant=False) == 0.5 + 4 / 64
    assert mem.nf4_bytes_per_param() == pytest.approx(0.5 + 1 / 64 + 4 / (64 * 256))


def test_parameter_counts_match_the_real_models():
    from transformers import LlamaConfig, LlamaForCausalLM

    from aegis.build import build_component
    from aegis.registry import CONNECTORS

    est = tiny()
    real_llm = LlamaForCausalLM(LlamaConfig(**TINY_LLAMA))
    assert est.facts["llm_params"] == sum(p.numel() for p in real_llm.parameters())
    real_q = build_component(dict(TINY_QFORMER), CONNECTORS, input_dim=32, output_dim=64)
    assert est.facts["qformer_params"] == sum(p.numel() for p in real_q.parameters())
    lines = {line.item: line.bytes for line in est.lines}
    assert lines["Q-Former weights (fp32 master copy)"] == 4 * est.facts["qformer_params"]
    assert lines["AdamW state (exp_avg, exp_avg_sq in fp32)"] == 8 * est.facts["qformer_params"]
    assert est.facts["seq"] == 1 + 4 + 3 + 5 + 1


def test_activations_scale_with_batch_and_checkpointing_saves_memory():
    small, large = tiny(batch=2), tiny(batch=4)
    assert large.facts["llm_layers_full"] == 2 * small.facts["llm_layers_full"]
    assert small.facts["qformer_checkpointed"] < small.facts["qformer_full"]
    with_ckpt = {line.item: line.bytes for line in tiny(batch=2, llm_checkpointing=True).lines}
    assert any("checkpointed" in item for item in with_ckpt)
    assert tiny(batch=2, llm_checkpointing=True).total < small.total


def test_markdown_table_adds_up_and_is_written_atomically(tmp_path):
    est = tiny()
    text = mem.to_markdown(est, budget_gib=15.0)
    assert f"**{est.total / mem.GIB:.2f}**" in text and "fits" in text
    assert text.count("\n| ") == len(est.lines) + 3  # header, separator, rows, total
    mem.atomic_write_text(text, str(tmp_path / "docs" / "vlm_memory.md"))
    assert (tmp_path / "docs" / "vlm_memory.md").read_text() == text
    assert list((tmp_path / "docs").iterdir()) == [tmp_path / "docs" / "vlm_memory.md"]  # no temporary left
