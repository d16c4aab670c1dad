"""Caption-text pretraining of the tiny LM: the loss skips <s>, prompt and padding; training lowers it."""
from pathlib import Path

import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import DATASETS, MODELS
from aegis_plugins.llms.lm_pretraining import caption_collate

CAPTIONS = str(Path(__file__).parent / "fixtures" / "captions.json")
LM = dict(type="TinyCausalLM", vocab_size=64, hidden_size=32, num_layers=2, num_heads=2, max_position_embeddings=64,
          frozen=False, corpus_file=CAPTIONS)


def test_dataset_and_collate():
    ds = build_component(dict(type="CaptionTextDataset", ann_file=CAPTIONS, repeat=2), DATASETS)
    assert len(ds) == 10 and ds[5]["data_samples"]["caption"] == "Water level rising rapidly"
    batch = caption_collate([ds[0], ds[1]])
    assert batch["inputs"] is None and [s["caption"] for s in batch["data_samples"]] == [
        "Water level rising rapidly", "The flood water is rising rapidly"]


def test_label_layout():
    model = build_component(dict(type="CaptionLMPretrainer", llm=LM, prompt="Describe the disaster:"), MODELS)
    ids, mask, labels = model._batch(["Fire spreading slowly to the east", "Water"])
    prompt_len = 1 + len(model.llm.encode("Describe the disaster:"))
    assert (labels[:, :prompt_len] == -100).all()
    assert torch.equal(labels[0, prompt_len:], ids[0, prompt_len:])  # the longest row: every caption token counts
    assert ((labels[1] != -100) == (mask[1].bool() & (torch.arange(ids.shape[1]) >= prompt_len))).all()
    assert ids[1, mask[1].sum() - 1] == model.llm.eos_token_id


def test_training_lowers_loss():
    torch.manual_seed(0)
    model = build_component(dict(type="CaptionLMPretrainer", llm=LM, prompt=""), MODELS)
    samples = [dict(caption="Water level rising rapidly"), dict(caption="Fire spreading slowly to the east")]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = model(None, samples, mode="loss")["loss"].item()
    for _ in range(30):
        loss = model(None, samples, mode="loss")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first * 0.5
    preds = model(None, samples, mode="predict")
    assert preds[0]["pred_caption"] in {"Water level rising rapidly", "Fire spreading slowly to the east"}


def test_frozen_llm_refused():
    with pytest.raises(ConfigError, match="frozen=False"):
        build_component(dict(type="CaptionLMPretrainer", llm=dict(LM, frozen=True)), MODELS)


def test_context_is_a_paraphrase_and_never_a_target():
    model = build_component(dict(type="CaptionLMPretrainer", llm=LM, prompt="Describe:", context_prob=1.0), MODELS)
    group = ["Water level rising rapidly", "The flood water is rising rapidly"]
    samples = [dict(caption=group[0], captions=group), dict(caption="The ground is shaking violently")]
    model.train()
    assert model._contexts(samples) == [group[1], ""]  # a sibling caption; none when the video has one caption
    model.eval()
    assert model._contexts(samples) == ["", ""]  # evaluation never adds context
    ids, mask, labels = model._batch([group[0]], [group[1]])
    target = model.llm.encode(" " + group[0]) + [model.llm.eos_token_id]
    assert labels[0][labels[0] != -100].tolist() == target
    given = 1 + len(model.llm.encode(group[1])) + len(model.llm.encode("Describe:"))
    assert ids[0, 1: 1 + len(model.llm.encode(group[1]))].tolist() == model.llm.encode(group[1])
    assert (labels[0, :given] == -100).all()
