"""Tests of the BLIP-2 stage-1 losses: video-text contrastive, matching with hard negatives, grounded captioning."""
import math

import pytest
import torch
import torch.nn.functional as F

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import CONNECTORS, LOSSES
from aegis_plugins.losses.vlm import VideoTextPairs


def make_pairs(sim=None, duplicate=True, seed=0, initializer_range=0.02):
    """Four pairs through a tiny Q-Former; with ``duplicate`` captions 0 and 2 are identical."""
    torch.manual_seed(seed)
    qformer = build_component(dict(type="QFormer", input_dim=24, output_dim=16, num_query_tokens=4, depth=2,
                                   hidden_size=32, num_heads=2, intermediate_size=64, text_vocab_size=40,
                                   max_text_length=8, initializer_range=initializer_range), CONNECTORS)
    ids = torch.randint(4, 40, (4, 6))
    ids[:, 0] = 1
    if duplicate:
        ids[2] = ids[0]
    mask = torch.ones(4, 6, dtype=torch.long)
    mask[1, 4:] = 0
    decoder = ids.clone()
    decoder[:, 0] = 3
    same = (ids[:, None] == ids[None]).all(-1)
    sim = torch.randn(4, 4) if sim is None else sim
    return VideoTextPairs(qformer, torch.randn(4, 5, 24), None, ids, mask, decoder, sim, sim.t(), same)


def test_contrastive_is_low_for_matching_similarities_and_high_for_swapped_ones():
    loss = build_component(dict(type="VideoTextContrastiveLoss", loss_weight=2.0), LOSSES)
    good = make_pairs(torch.eye(4) * 50, duplicate=False)
    bad = make_pairs(torch.eye(4).roll(1, dims=1) * 50, duplicate=False)
    assert loss(good).item() < 1e-6
    assert loss(bad).item() == pytest.approx(2.0 * 50, rel=1e-3)


def test_contrastive_does_not_push_apart_identical_captions():
    loss = build_component(dict(type="VideoTextContrastiveLoss"), LOSSES)
    same_block = torch.eye(4) * 20
    same_block[0, 2] = same_block[2, 0] = 20  # clip 0 and 2 score both copies of their caption equally
    own_only = torch.eye(4) * 20
    # soft targets: scoring both identical captions high is optimal (entropy log 2 for those two rows)
    assert loss(make_pairs(same_block)).item() == pytest.approx(math.log(2) / 2, abs=1e-4)
    assert loss(make_pairs(same_block)) < loss(make_pairs(own_only))


def test_matching_negatives_are_hard_and_never_the_same_caption():
    loss = build_component(dict(type="VideoTextMatchingLoss", hidden_size=32), LOSSES)
    pairs = make_pairs()
    sim = torch.full((4, 4), -30.0)
    sim[:, 1] = 30.0  # caption 1 is the hardest negative for everyone (but is clip 1's own)
    sim[1, 3] = 30.0
    for _ in range(5):
        rows, cols = loss.sample_negatives(sim, pairs.same_text)
        assert rows.tolist() == [0, 1, 2, 3]
        assert cols.tolist() == [1, 3, 1, 1]
    uniform = build_component(dict(type="VideoTextMatchingLoss", hidden_size=32, hard_negatives=False), LOSSES)
    torch.manual_seed(0)
    picks = torch.stack([uniform.sample_negatives(sim, pairs.same_text)[1] for _ in range(200)])
    assert not (picks[:, 0] == 2).any() and not (picks[:, 0] == 0).any()  # 0 and 2 share a caption
    assert set(picks[:, 0].tolist()) == {1, 3}  # uniform over the others despite the similarities


@pytest.mark.slow
def test_matching_learns_to_tell_pairs_from_negatives():
    pairs = make_pairs(duplicate=False, initializer_range=0.1)  # ~1/sqrt(width): BERT's 0.02 learns far slower here
    loss = build_component(dict(type="VideoTextMatchingLoss", hidden_size=32, hard_negatives=False), LOSSES)
    params = list(loss.parameters()) + list(pairs.qformer.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-3)
    torch.manual_seed(1)
    first = loss(pairs)
    assert first.item() == pytest.approx(math.log(2), abs=0.15)  # near chance at init
    for _ in range(150):
        optimizer.zero_grad()
        loss(pairs).backward()
        optimizer.step()
    with torch.no_grad():
        clips, texts = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
        match = loss.logits(pairs, clips.flatten(), texts.flatten()).softmax(-1)[:, 1].view(4, 4)
    assert (match.diagonal() > 0.8).all()
    assert (match[~torch.eye(4, dtype=torch.bool)] < 0.2).all()  # every wrong pairing


def test_grounded_captioning_is_next_token_cross_entropy_on_the_caption_only():
    loss = build_component(dict(type="GroundedCaptioningLoss", label_smoothing=0.0), LOSSES)
    pairs = make_pairs()
    logits = pairs.qformer.caption_logits(pairs.visual_tokens, None, pairs.decoder_ids, pairs.text_mask)
    targets = [(b, i) for b in range(4) for i in range(1, 6) if pairs.text_mask[b, i]]
    expected = torch.stack([F.cross_entropy(logits[b, i - 1], pairs.decoder_ids[b, i]) for b, i in targets]).mean()
    assert loss(pairs).item() == pytest.approx(expected.item(), rel=1e-5)
    padded = make_pairs()
    padded.decoder_ids[1, 4:] = 5  # padding positions are ignored
    assert loss(padded).item() == pytest.approx(expected.item(), rel=1e-5)
    grounded = make_pairs()
    grounded.visual_tokens.requires_grad_(True)
    loss(grounded).backward()
    assert grounded.visual_tokens.grad.abs().sum() > 0  # the caption is predicted from the clip


def test_bad_names_and_missing_similarity_are_config_errors():
    with pytest.raises(ConfigError, match="loss_name"):
        build_component(dict(type="GroundedCaptioningLoss", loss_name="vtg"), LOSSES)
    pairs = make_pairs()
    pairs.sim_v2t = None
    with pytest.raises(ConfigError, match="needs the contrastive similarities"):
        build_component(dict(type="VideoTextContrastiveLoss"), LOSSES)(pairs)
