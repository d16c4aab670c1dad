"""JEPAPretrainer: loss terms, no gradient to the target, layer-normalised targets, EMA update, learning."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import MODELS

ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=6, img_size=16)


def _model(**extra):
    cfg = dict(type="JEPAPretrainer", encoder=ENCODER,
               predictor=dict(type="JEPAPredictor", embed_dim=16, depth=1, num_heads=2),
               mask_generators=[dict(type="RandomTubeMaskGenerator", mask_ratio=0.5),
                                dict(type="MultiBlock3DMaskGenerator", num_blocks=1, mask_ratio=0.5)],
               losses=[dict(type="LatentReconstructionLoss"), dict(type="TemporalCausalityLoss", loss_weight=0.1)])
    cfg.update(extra)
    return build_component(cfg, MODELS)


def test_loss_terms_are_named_finite_and_reach_encoder_and_predictor_but_not_the_target():
    torch.manual_seed(0)
    model = _model()
    terms = model(torch.randn(2, 3, 6, 16, 16), mode="loss")
    assert set(terms) == {"reconstruction_loss", "causality_loss"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in terms.values())
    assert terms["causality_loss"] > 0  # grid (3, 2, 2): tubes give full time triples
    sum(terms.values()).backward()
    assert all(p.grad is None for p in model.target_encoder.parameters())
    assert model.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert model.predictor.predictor_proj.weight.grad.abs().sum() > 0
    assert model.predictor.mask_tokens.shape[0] == 2  # one mask token per mask group


def test_targets_are_layer_normalised_target_encoder_features():
    torch.manual_seed(0)
    model = _model()
    video = torch.randn(2, 3, 6, 16, 16)
    model.capture_features = True
    model(video, mode="loss")
    targets = model.captured["targets"]
    assert torch.allclose(targets.mean(-1), torch.zeros(len(targets)), atol=1e-5)
    assert torch.allclose(targets.std(-1, unbiased=False), torch.ones(len(targets)), atol=1e-3)
    raw = model(video, mode="tensor")
    assert torch.allclose(model.captured["target_features"], raw.flatten(0, 1))


def test_update_target_is_an_exponential_moving_average():
    model = _model()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.target_encoder.parameters()]
    online = [p.clone() for p in model.encoder.parameters()]
    model.update_target(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.target_encoder.parameters()))
    model.update_target(0.75)
    for b, o, t in zip(before, online, model.target_encoder.parameters()):
        assert torch.allclose(t, 0.75 * b + 0.25 * o, atol=1e-6)
    model.update_target(0.0)
    assert all(torch.equal(o, t) for o, t in zip(online, model.target_encoder.parameters()))


def test_training_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = _model(mask_generators=[dict(type="RandomTubeMaskGenerator", mask_ratio=0.5)])
    video = torch.randn(2, 3, 6, 16, 16)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(25):
        total = sum(model(video, mode="loss").values())
        opt.zero_grad()
        total.backward()
        opt.step()
        model.update_target(0.99)
        losses.append(total.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_predict_mode_returns_pooled_features_per_clip():
    out = _model()(torch.randn(3, 3, 6, 16, 16), mode="predict")
    assert len(out) == 3 and out[0]["features"].shape == (32,)


def test_bad_configs_and_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="frozen"):
        _model(encoder=dict(ENCODER, frozen=True))
    with pytest.raises(ConfigError, match="non-empty list"):
        _model(losses=[])
    with pytest.raises(ConfigError, match="distinct loss_name"):
        _model(losses=[dict(type="LatentReconstructionLoss"), dict(type="LatentReconstructionLoss", norm="l2")])
    with pytest.raises(DataError, match="token grid"):
        _model()(torch.randn(2, 3, 4, 16, 16), mode="loss")


def test_mask_group_weights_weigh_the_groups_and_a_zero_group_is_not_computed():
    torch.manual_seed(0)
    model = _model(mask_group_weights=[0, 1])
    model(torch.randn(2, 3, 6, 16, 16), mode="loss")["reconstruction_loss"].backward()
    grad = model.predictor.mask_tokens.grad  # (2, D): one mask token per group
    assert grad[0].abs().sum() == 0 and grad[1].abs().sum() > 0
    with pytest.raises(ConfigError, match="expected 2 non-negative weights"):
        _model(mask_group_weights=[1, -1])


def test_frozen_encoders_get_no_gradient_and_no_ema_step():
    torch.manual_seed(0)
    model = _model()
    model.freeze_encoders()
    target = [p.clone() for p in model.target_encoder.parameters()]
    sum(model(torch.randn(2, 3, 6, 16, 16), mode="loss").values()).backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.predictor.predictor_proj.weight.grad.abs().sum() > 0
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    model.update_target(0.5)
    assert all(torch.equal(a, b) for a, b in zip(target, model.target_encoder.parameters()))
