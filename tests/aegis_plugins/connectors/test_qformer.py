"""Tests of the BLIP-2 Q-Former connector and its stage-1 text path."""
import pytest
import torch

from aegis.build import build_component, injected_arguments, validate_component
from aegis.errors import CheckpointError, ConfigError, DataError
from aegis.registry import CONNECTORS

TINY = dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2, intermediate_size=64)


def build(input_dim: int = 24, output_dim: int = 40, **overrides):
    """A tiny QFormer as a parent builds it: the widths injected, the rest from the config."""
    torch.manual_seed(0)
    cfg = dict(TINY, **overrides)
    return build_component(cfg, CONNECTORS, path="model.connector", input_dim=input_dim, output_dim=output_dim).eval()


def sharpen(qformer):
    """At init (std 0.02) attention is nearly uniform and averages tokens away; scale it up as training would."""
    with torch.no_grad():
        for layer in qformer.layers:
            if layer.cross_attn is not None:
                layer.cross_attn.q.weight.mul_(25)
                layer.cross_attn.kv.weight.mul_(25)


def test_maps_visual_tokens_to_llm_prefix_with_injected_widths():
    injected = injected_arguments(CONNECTORS.get("QFormer"))
    assert injected == ("input_dim", "output_dim")  # the Connector family's widths: its parent supplies them
    validate_component(dict(TINY), "model.connector", registry=CONNECTORS, injected=injected)
    qformer = build()
    out = qformer(torch.randn(3, 10, 24))
    assert out.shape == (3, 4, 40) and qformer.num_output_tokens == 4
    assert torch.isfinite(out).all()


def test_cross_attention_every_frequency_layers_and_output_depends_on_video():
    qformer = build(depth=4, cross_attention_frequency=2)
    assert [layer.cross_attn is not None for layer in qformer.layers] == [True, False, True, False]
    visual = torch.randn(2, 6, 24)
    out = qformer(visual)
    assert not torch.allclose(out[0], out[1], atol=1e-4)  # different clips give different prefixes
    assert torch.allclose(qformer(visual[:1]), out[:1], atol=1e-5)  # no leakage across the batch


def test_temporal_embedding_makes_the_queries_see_frame_order():
    visual = torch.randn(1, 8, 24)  # grid (2, 2, 2): two time steps of 4 tokens
    swapped = torch.cat([visual[:, 4:], visual[:, :4]], dim=1)  # same tokens, time steps reversed
    plain = build()
    assert torch.allclose(plain(visual), plain(swapped), atol=1e-5)  # attention alone is order-blind
    timed = build(temporal_pos_embed=True, max_temporal_positions=4)
    sharpen(timed)
    assert not torch.allclose(timed(visual, (2, 2, 2)), timed(swapped, (2, 2, 2)), atol=1e-4)


def test_time_embedding_added_to_keys_equals_adding_it_to_the_tokens():
    attention = build(temporal_pos_embed=True).layers[0].cross_attn
    query, visual, steps = torch.randn(2, 4, 32), torch.randn(2, 8, 24), torch.randn(2, 24)
    shifted = (visual.view(2, 2, 4, 24) + steps[None, :, None]).view(2, 8, 24)  # token n gets step n // 4
    assert torch.allclose(attention(query, visual, steps), attention(query, shifted, None), atol=1e-5)


@pytest.mark.parametrize("steps", [None, torch.randn(2, 24)])
def test_absorbed_cross_attention_equals_projecting_the_tokens(steps):
    attention = build().layers[0].cross_attn.train()
    query, visual = torch.randn(2, 4, 32, requires_grad=True), torch.randn(2, 8, 24)
    grads = []
    for path in (attention._attend_absorbed, attention._attend_projected):
        out = path(query, visual, steps)
        (out * torch.linspace(-1, 1, 32)).sum().backward()
        grads.append((out.detach(), query.grad.clone(), attention.kv.weight.grad.clone()))
        query.grad, attention.kv.weight.grad = None, None
    assert 2 * 4 < 32  # the forward takes the absorbed path at these sizes
    for absorbed, projected in zip(*grads):
        assert torch.allclose(absorbed, projected, atol=1e-5)


def test_temporal_embedding_grid_errors():
    timed = build(temporal_pos_embed=True, max_temporal_positions=2)
    with pytest.raises(ConfigError, match="grid"):
        timed(torch.randn(1, 8, 24))
    with pytest.raises(DataError, match="N=8"):
        timed(torch.randn(1, 8, 24), (3, 2, 2))
    with pytest.raises(ConfigError, match="max_temporal_positions"):
        timed(torch.randn(1, 12, 24), (3, 2, 2))


def test_wrong_visual_width_and_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="input_dim must equal the encoder's embed_dim"):
        build()(torch.randn(1, 4, 16))
    with pytest.raises(ConfigError, match="not divisible by num_heads"):
        build(num_heads=5)


def test_gradient_checkpointing_gives_the_same_values_and_gradients():
    visual = torch.randn(2, 6, 24)
    grads = []
    for flag in (False, True):
        qformer = build(gradient_checkpointing=flag).train()
        out = qformer(visual)
        out.square().mean().backward()
        grads.append((out.detach(), qformer.query_tokens.grad.clone(), qformer.layers[0].cross_attn.kv.weight.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-6)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-6)
    assert torch.allclose(grads[0][2], grads[1][2], atol=1e-6)


def test_text_path_masks():
    qformer = build(text_vocab_size=64, max_text_length=8)
    sharpen(qformer)
    visual = torch.randn(2, 6, 24)
    ids = torch.randint(4, 64, (2, 6))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[:, 4:] = 0
    changed = ids.clone()
    changed[:, 4:] = 7  # only padding differs
    assert torch.allclose(qformer.encode_text(ids, mask)[:, :4], qformer.encode_text(changed, mask)[:, :4], atol=1e-5)
    # grounded generation is causal: logits at position i ignore tokens after i
    later = ids.clone()
    later[:, 3] = (ids[:, 3] + 1) % 64
    a, b = qformer.caption_logits(visual, None, ids, mask), qformer.caption_logits(visual, None, later, mask)
    assert a.shape == (2, 6, 64)
    assert torch.allclose(a[:, :3], b[:, :3], atol=1e-5) and not torch.allclose(a[:, 3], b[:, 3], atol=1e-5)
    # ... and it does look at the video
    assert not torch.allclose(a, qformer.caption_logits(visual.flip(0), None, ids, mask), atol=1e-4)
    # matching is bidirectional: the query outputs see the text
    q1 = qformer.encode_multimodal(visual, None, ids, mask)[:, :4]
    q2 = qformer.encode_multimodal(visual, None, later, mask)[:, :4]
    assert not torch.allclose(q1, q2, atol=1e-5)
    with pytest.raises(ConfigError, match="max_text_length"):
        qformer.encode_text(torch.zeros(1, 9, dtype=torch.long), torch.ones(1, 9))
    with pytest.raises(ConfigError, match="text_vocab_size"):
        build().encode_text(ids, mask)


def _save_tiny_bert(folder, layers=2, hidden=32):
    from transformers import BertConfig, BertModel

    torch.manual_seed(1)
    config = BertConfig(vocab_size=64, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    bert = BertModel(config, add_pooling_layer=False).eval()
    bert.save_pretrained(folder)
    return bert


def test_bert_initialisation_reproduces_bert_on_the_text_path(tmp_path):
    bert = _save_tiny_bert(tmp_path / "bert")
    qformer = build(text_vocab_size=66, max_text_length=8, bert_checkpoint=str(tmp_path / "bert"))
    ids = torch.randint(0, 64, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0
    with torch.no_grad():
        expected = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        ours = qformer.encode_text(ids, mask)
    assert torch.allclose(ours[0], expected[0], atol=1e-5)
    assert torch.allclose(ours[1, :5], expected[1, :5], atol=1e-5)
    # the query path got the same FFN weights; cross-attention is new
    assert torch.equal(qformer.layers[1].ffn_query.fc1.weight, bert.encoder.layer[1].intermediate.dense.weight)


def test_bert_initialisation_errors_name_the_key_to_change(tmp_path):
    _save_tiny_bert(tmp_path / "bert", layers=1)
    with pytest.raises(CheckpointError, match="lower model.connector.depth"):
        build(bert_checkpoint=str(tmp_path / "bert"))
    _save_tiny_bert(tmp_path / "wide", hidden=48)
    with pytest.raises(CheckpointError, match="model.connector.hidden_size=48"):
        build(bert_checkpoint=str(tmp_path / "wide"))
    with pytest.raises(ConfigError, match="does not exist"):
        build(bert_checkpoint=str(tmp_path / "nowhere"))


def test_loads_a_stage1_checkpoint_without_the_text_path_or_projection(tmp_path):
    from aegis.engine import atomic_save

    stage1 = build(text_vocab_size=64, output_dim=8)
    state = {"connector." + k: v for k, v in stage1.state_dict().items()}
    state["text_proj.weight"] = torch.zeros(3, 3)
    atomic_save({"state_dict": state, "meta": {"epoch": 1}}, tmp_path / "epoch_1.pth")
    stage2 = build(checkpoint=str(tmp_path / "epoch_1.pth"))
    visual = torch.randn(2, 6, 24)
    assert torch.allclose(stage2.encode_queries(visual), stage1.encode_queries(visual), atol=1e-6)
    assert stage2(visual).shape == (2, 4, 40)
    atomic_save({"state_dict": {"connector.query_tokens": stage1.query_tokens}}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="lacks"):
        build(checkpoint=str(tmp_path / "partial.pth"))


def test_checkpoint_work_dir_without_checkpoints_says_what_to_run(tmp_path):
    with pytest.raises(CheckpointError, match="vlm_stage1_tiny_cpu"):
        build(checkpoint=str(tmp_path))
