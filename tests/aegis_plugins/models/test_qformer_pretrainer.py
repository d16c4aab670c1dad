"""Tests of the BLIP-2 stage-1 model: frozen encoder, weighted stage-1 losses, grounded generation, stage-2 handoff."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import CONNECTORS, MODELS

ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=2, img_size=16)
CONNECTOR = dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2, intermediate_size=64,
                 temporal_pos_embed=True, max_temporal_positions=4)
CAPTIONS = ["Water rising.", "Fire spreading.", "Water rising.", "Smoke."]


def build(**overrides):
    torch.manual_seed(0)
    cfg = dict(type="QFormerPretrainer", encoder=ENCODER, connector=CONNECTOR, embed_dim=16, max_text_length=20)
    cfg.update(overrides)
    return build_component(cfg, MODELS, path="model")


def batch():
    torch.manual_seed(1)
    return torch.randn(4, 3, 2, 16, 16), [dict(caption=c) for c in CAPTIONS]


def run(model, inputs, samples, mode):
    """``forward`` after the data preprocessor, as ``train_step``/``val_step`` call it (captions -> caption_ids)."""
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), mode == "loss")
    return model(**data, mode=mode)


def test_loss_terms_train_the_qformer_and_leave_the_encoder_frozen():
    model = build().train()
    assert not model.encoder.training and all(not p.requires_grad for p in model.encoder.parameters())
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    query_before = model.connector.query_tokens.detach().clone()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    inputs, samples = batch()
    losses = run(model, inputs, samples, "loss")
    assert sorted(losses) == ["vtc_loss", "vtg_loss", "vtm_loss"]
    sum(losses.values()).backward()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all(model.get_parameter(n).grad is not None for n in trainable)  # every trainable part is used
    optimizer.step()
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in encoder_before.items())
    assert not torch.equal(query_before, model.connector.query_tokens)


def test_weights_and_the_subset_of_terms_come_from_the_loss_list():
    inputs, samples = batch()
    full = run(build(), inputs, samples, "loss")
    torch.manual_seed(3)
    halved = run(build(losses=[dict(type="GroundedCaptioningLoss", loss_weight=0.5)]), inputs, samples, "loss")
    assert list(halved) == ["vtg_loss"]
    assert halved["vtg_loss"].item() == pytest.approx(0.5 * full["vtg_loss"].item(), rel=1e-5)


def test_tokenizer_wraps_captions_in_cls_and_sep_and_truncates():
    model = build(max_text_length=8)
    ids, mask = model.tokenize(["ab", "a long caption"], "cpu")
    tok = model.tokenizer
    assert ids.shape == (2, 8) and mask.tolist() == [[1, 1, 1, 1, 0, 0, 0, 0], [1] * 8]
    assert ids[0, :4].tolist() == [tok.cls_id, ord("a") + 4, ord("b") + 4, tok.sep_id]
    assert ids[1, -1].item() == tok.sep_id and tok.decode(ids[1, 1:-1].tolist()) == "a long"
    assert model.connector.text_vocab_size == tok.vocab_size  # injected


def test_caption_bpe_trained_on_a_corpus_file(tmp_path):
    import json

    corpus = tmp_path / "train.json"
    corpus.write_text(json.dumps([{"video_path": f"v{i}.mp4", "caption": c} for i, c in enumerate(CAPTIONS * 5)]))
    model = build(corpus_file=str(corpus), tokenizer_vocab_size=60)
    tok = model.tokenizer
    ids, mask = model.tokenize(["Water rising."], "cpu")
    assert ids[0, 0].item() == tok.cls_id and ids[0, -1].item() == tok.sep_id
    assert ids.shape[1] < 2 + len("Water rising.")  # words, not bytes
    assert tok.decode(ids[0, 1:-1].tolist()) == "Water rising."
    assert model.connector.text_vocab_size == tok.vocab_size == tok.dec_id + 1
    with pytest.raises(ConfigError, match="not both"):
        build(corpus_file=str(corpus), tokenizer="x.json")


def test_repeated_captions_are_not_negatives_in_the_ranking():
    model = build().eval()
    inputs, samples = batch()
    out = run(model, inputs, samples, "predict")
    assert [o["gt_caption"] for o in out] == CAPTIONS
    assert all(0 <= o["text_rank"] <= 2 for o in out)  # 3 distinct captions: at most 2 wrong ones above
    assert all(isinstance(o["pred_caption"], str) for o in out)


@pytest.mark.slow
def test_learns_to_caption_and_match_a_tiny_batch():
    model = build(max_text_length=20).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    inputs, samples = batch()
    for _ in range(300):
        optimizer.zero_grad()
        losses = run(model, inputs, samples, "loss")
        sum(losses.values()).backward()
        optimizer.step()
    model.eval()
    out = run(model, inputs, samples, "predict")
    assert [o["pred_caption"] for o in out] == CAPTIONS
    assert all(o["text_rank"] == 0 for o in out)


def test_stage2_loads_the_trained_qformer(tmp_path):
    from aegis.engine import atomic_save

    model = build()
    atomic_save({"state_dict": model.state_dict(), "meta": {}}, tmp_path / "epoch_1.pth")
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "epoch_1.pth"))
    stage2 = build_component(dict(CONNECTOR, checkpoint=str(tmp_path)), CONNECTORS,  # the work dir
                             input_dim=32, output_dim=48)
    inputs, _ = batch()
    tokens, grid = model.visual_tokens(inputs)
    assert torch.allclose(stage2.encode_queries(tokens, grid), model.connector.encode_queries(tokens, grid))
    assert not hasattr(stage2, "word_embeddings")  # the text path stays behind


def test_bert_tokenizer_and_weights_from_a_local_folder(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "water", "rising", "fire", "spreading", "smoke", "."]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "bert")
    config = BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)
    bert = BertModel(config, add_pooling_layer=False)
    bert.save_pretrained(tmp_path / "bert")
    model = build(tokenizer=str(tmp_path / "bert"),
                  connector=dict(CONNECTOR, bert_checkpoint=str(tmp_path / "bert")))
    assert model.connector.text_vocab_size == len(words) + 1  # plus [DEC]
    assert torch.equal(model.connector.word_embeddings.weight[:len(words)], bert.embeddings.word_embeddings.weight)
    ids, _ = model.tokenize(["Water rising."], "cpu")
    assert ids[0].tolist() == [2, 5, 6, 10, 3]
    inputs, samples = batch()
    assert torch.isfinite(torch.stack(list(run(model, inputs, samples, "loss").values()))).all()


def test_configuration_errors():
    with pytest.raises(ConfigError, match="Use type='QFormer'"):
        build(connector=dict(type="PerceiverResampler", num_query_tokens=4, depth=1, hidden_size=32, num_heads=2,
                             intermediate_size=64, temporal_pos_embed=False))
    with pytest.raises(ConfigError, match="distinct loss_name"):
        build(losses=[dict(type="GroundedCaptioningLoss"), dict(type="GroundedCaptioningLoss")])
    with pytest.raises(ConfigError, match="non-empty list"):
        build(losses=[])
    with pytest.raises(ConfigError, match="unknown argument"):
        build(losses=[dict(type="VideoTextMatchingLoss", hard_negative=False)])
    inputs, _ = batch()
    with pytest.raises(DataError, match="no 'caption'"):
        run(build(), inputs, [dict(label=0)] * 4, "loss")
    with pytest.raises(ConfigError, match="no 'caption_ids'"):
        build()(inputs, [dict(caption=c) for c in CAPTIONS], mode="loss")  # forward does not tokenize
