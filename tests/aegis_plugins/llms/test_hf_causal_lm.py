"""HFCausalLM: loads any transformers causal LM from a local folder, never downloads, explains what is missing."""
from pathlib import Path

import pytest
import torch

from aegis.build import build_component
from aegis.errors import CheckpointError, MissingDependencyError
from aegis.registry import LLMS

FOLDER = str(Path(__file__).parent / "fixtures" / "tiny_llama_hf")


def test_local_folder_frozen_interface():
    llm = build_component(dict(type="HFCausalLM", name_or_path=FOLDER), LLMS)
    assert llm.hidden_size == 32 and not any(p.requires_grad for p in llm.parameters())
    ids = llm.encode("Water level rising")
    assert llm.decode(ids) == "Water level rising"
    embeds = llm.embed_tokens(torch.tensor([[1, *ids]]))
    logits = llm(embeds, torch.ones_like(torch.tensor([[1, *ids]]))).logits
    assert logits.shape == (1, len(ids) + 1, 64)
    assert llm.pad_token_id == llm.eos_token_id  # no pad token in the folder: eos pads


def test_dtype_and_lora():
    half = build_component(dict(type="HFCausalLM", name_or_path=FOLDER, dtype="bfloat16"), LLMS)
    assert half.embed_dtype == torch.bfloat16
    lora = build_component(dict(type="HFCausalLM", name_or_path=FOLDER,
                                lora=dict(r=4, alpha=8, target_modules=["q_proj", "v_proj"])), LLMS)
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    lora.train()
    assert lora.model.training  # LoRA dropout layers follow train mode


def test_missing_weights_name_path_and_key(tmp_path):
    with pytest.raises(CheckpointError, match=r"model\.llm\.name_or_path='/nonexistent/llama'.*tried the folder"):
        build_component(dict(type="HFCausalLM", name_or_path="/nonexistent/llama"), LLMS)
    with pytest.raises(CheckpointError, match="Hugging Face cache.*huggingface-cli download"):
        build_component(dict(type="HFCausalLM", name_or_path="aegis-test/not-a-real-model"), LLMS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="without config.json"):
        build_component(dict(type="HFCausalLM", name_or_path=str(tmp_path / "empty")), LLMS)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_4bit_without_cuda_says_what_to_install_or_change():
    with pytest.raises(MissingDependencyError, match=r"load_in_4bit=True needs .*a CUDA GPU, and none is visible.*"
                                                     r"TinyCausalLM"):
        build_component(dict(type="HFCausalLM", name_or_path=FOLDER, load_in_4bit=True), LLMS)
    with pytest.raises(CheckpointError, match=r"\(1\) LLM weights.*\n\(2\) model\.llm\.load_in_8bit"):
        build_component(dict(type="HFCausalLM", name_or_path="/nonexistent/llama", load_in_8bit=True), LLMS)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_preflight_names_missing_weights_and_the_gpu_before_anything_loads():
    problems = LLMS.get("HFCausalLM").preflight(dict(name_or_path="/nonexistent/llama", load_in_4bit=True))
    assert any("LLM weights for model.llm.name_or_path='/nonexistent/llama' not found" in p for p in problems)
    assert any(p.startswith("load_in_4bit=True needs a CUDA GPU") for p in problems)
    assert LLMS.get("HFCausalLM").preflight(dict(name_or_path=FOLDER)) == []  # a local model folder: nothing missing
