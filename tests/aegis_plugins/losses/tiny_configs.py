"""Tiny configs of the loss terms for the contract test (batch 2, 4 predicted tokens of width 32)."""
import torch

_TARGET_IDX = torch.tensor([[0, 4, 8, 12], [1, 5, 9, 13]])  # one spatial position through 4 time steps of (4, 2, 2)

TINY = {
    "LatentReconstructionLoss": dict(
        registry="LOSSES",
        cfg=dict(type="LatentReconstructionLoss", norm="l1"),
        run=lambda loss: loss(torch.randn(2, 4, 32), torch.randn(2, 4, 32), _TARGET_IDX, (4, 2, 2)),
        expect_shape=(),
    ),
    "TemporalCausalityLoss": dict(
        registry="LOSSES",
        cfg=dict(type="TemporalCausalityLoss", loss_weight=0.1),
        run=lambda loss: loss(torch.randn(2, 4, 32), None, _TARGET_IDX, (4, 2, 2)),
        expect_shape=(),
    ),
}


# --- BLIP-2 stage-1 terms (issue #6; owned by the connector engineer) ---------------------------------------------
def _video_text_pairs():
    """Four tiny (clip tokens, caption ids) pairs through a 2-layer Q-Former with a text path; captions 0 and 2 match."""
    from aegis.registry import CONNECTORS
    from aegis_plugins.losses.vlm import VideoTextPairs

    torch.manual_seed(0)
    qformer = CONNECTORS.build(dict(type="QFormer", input_dim=32, output_dim=16, num_query_tokens=4, depth=2,
                                    hidden_size=32, num_heads=2, intermediate_size=64, text_vocab_size=64,
                                    max_text_length=8))
    ids = torch.randint(4, 64, (4, 6))
    ids[:, 0], ids[2] = 1, ids[0]
    mask = torch.ones(4, 6, dtype=torch.long)
    mask[1, 4:] = 0
    decoder = ids.clone()
    decoder[:, 0] = 3
    sim = torch.randn(4, 4) / 0.07
    same = (ids[:, None, :] == ids[None, :, :]).all(-1)
    return VideoTextPairs(qformer, torch.randn(4, 4, 32), (1, 2, 2), ids, mask, decoder, sim, sim.t(), same)


TINY.update({
    "VideoTextContrastiveLoss": dict(registry="LOSSES", cfg=dict(type="VideoTextContrastiveLoss"),
                                     run=lambda loss: loss(_video_text_pairs()), expect_shape=()),
    "VideoTextMatchingLoss": dict(registry="LOSSES", cfg=dict(type="VideoTextMatchingLoss", hidden_size=32),
                                  run=lambda loss: loss(_video_text_pairs()), expect_shape=()),
    "GroundedCaptioningLoss": dict(registry="LOSSES", cfg=dict(type="GroundedCaptioningLoss"),
                                   run=lambda loss: loss(_video_text_pairs()), expect_shape=()),
})
