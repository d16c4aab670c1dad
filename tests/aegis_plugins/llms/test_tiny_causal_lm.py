"""TinyCausalLM: built from config with no download, frozen by default, exported and reloaded bit-exactly."""
import json

import pytest
import torch

from aegis.build import build_component
from aegis.errors import CheckpointError, ConfigError
from aegis.registry import LLMS
from aegis_plugins.llms.tiny_causal_lm import TinyCausalLM, export_tiny_lm

CFG = dict(type="TinyCausalLM", vocab_size=64, hidden_size=32, num_layers=2, num_heads=2, max_position_embeddings=64)


def _ids():
    return torch.tensor([[1, 5, 6, 7], [1, 8, 9, 10]])


def test_interface_shapes_and_frozen():
    llm = build_component(CFG, LLMS)
    assert llm.hidden_size == 32 and llm.eos_token_id == 2
    embeds = llm.embed_tokens(_ids())  # (B, L, D)
    assert embeds.shape == (2, 4, 32)
    out = llm(inputs_embeds=embeds, attention_mask=torch.ones(2, 4, dtype=torch.long), labels=_ids())
    assert out.logits.shape == (2, 4, 64) and torch.isfinite(out.loss)
    assert not any(p.requires_grad for p in llm.parameters())
    llm.train()
    assert not llm.model.training  # a frozen LM stays in eval mode
    new = llm.generate(embeds, torch.ones(2, 4, dtype=torch.long), max_new_tokens=5, num_beams=2)
    assert new.shape[0] == 2 and new.shape[1] <= 5


def test_same_seed_same_weights_and_unfrozen_trains():
    a, b = build_component(dict(CFG, frozen=False), LLMS), build_component(dict(CFG, frozen=False), LLMS)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert all(p.requires_grad for p in a.parameters())


def test_export_and_reload(tmp_path):
    llm = build_component(dict(CFG, frozen=False, seed=3), LLMS)
    with torch.no_grad():
        llm.model.lm_head.weight.add_(0.5)  # make it differ from a fresh seed-0 model
    weights = export_tiny_lm(llm, tmp_path / "lm")
    assert {p.name for p in (tmp_path / "lm").iterdir()} == {"model.pth", "tokenizer.json", "config.json"}
    loaded = build_component(dict(CFG, checkpoint=str(weights)), LLMS)
    embeds = llm.embed_tokens(_ids())
    mask = torch.ones(2, 4, dtype=torch.long)
    assert torch.allclose(loaded(embeds, mask).logits, llm(embeds, mask).logits)
    assert loaded.encode("Water level") == llm.encode("Water level")  # the tokenizer came from beside the weights


def test_architecture_mismatch_and_missing_checkpoint(tmp_path):
    llm = build_component(dict(CFG, frozen=False), LLMS)
    weights = export_tiny_lm(llm, tmp_path / "lm")
    with pytest.raises(CheckpointError, match="hidden_size: checkpoint 32 vs config 64"):
        build_component(dict(CFG, hidden_size=64, checkpoint=str(weights)), LLMS)
    with pytest.raises(CheckpointError, match="lm_pretrain_tiny"):
        build_component(dict(CFG, checkpoint=str(tmp_path / "nope.pth")), LLMS)
    cfg = json.loads((tmp_path / "lm" / "config.json").read_text())
    assert cfg["num_layers"] == 2


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="divisible"):
        TinyCausalLM(hidden_size=30, num_heads=4)
    with pytest.raises(ConfigError, match="vocab_size=8 is smaller"):
        TinyCausalLM(vocab_size=8, hidden_size=32, num_heads=2)
