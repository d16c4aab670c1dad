"""ActionConditionedPredictor: frozen-encoder latents, teacher-forced + rollout L1, and that it learns an env's
dynamics from a few hundred recorded steps (its rollout beats copying the last latent on held-out episodes)."""
import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import MODELS
from aegis_plugins.data.env_transitions import EnvTransitionDataset
from aegis_plugins.models.world_model import rollout_errors

TINY_ENV = dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8, obs_size=16)
TINY_ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
                    num_frames=2, img_size=16, frozen=True)


def _model(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type="ActionConditionedPredictor", encoder=TINY_ENCODER, frame_stack=2, obs_size=16, width=32,
               depth=1, num_heads=2)
    cfg.update(kwargs)
    return build_component(cfg, MODELS, "model")


def _windows(batch=3, steps=2):
    torch.manual_seed(1)
    return (torch.randint(0, 256, (batch, 2 + steps, 16, 16, 3), dtype=torch.uint8),
            torch.randint(0, 4, (batch, steps)))


def test_latents_are_layer_normalised_frozen_encoder_tokens():
    model = _model()
    latents = model.encode(_windows()[0][:, :2])  # (B, T, H, W, C) -> (B, N, D)
    assert latents.shape == (3, model.num_tokens, 32) and model.num_tokens == 4  # (16 / 8)^2 tokens of one tubelet
    assert torch.allclose(latents.mean(-1), torch.zeros(3, 4), atol=1e-5)
    assert not any(p.requires_grad for p in model.latents.encoder.parameters())


def test_untrained_predictor_is_the_copy_baseline_and_rollout_loss_feeds_its_own_predictions():
    model = _model()
    inputs, actions = _windows(steps=3)
    errors = rollout_errors(model, inputs, actions)
    assert errors["model"].shape == (3, 3)
    torch.testing.assert_close(errors["model"], errors["copy"])  # zero-initialised output: the next = the current
    torch.nn.init.normal_(model.proj_out.weight, std=0.1)
    latents = model.encode_windows(inputs, 3)
    rolled = model.rollout(latents[:, 0], actions)  # (B, k, N, D)
    torch.testing.assert_close(rolled[:, 1], model.step(rolled[:, 0], actions[:, 1]))
    assert not torch.allclose(rolled[:, 1], model.step(latents[:, 1], actions[:, 1]))  # not teacher-forced


def test_loss_trains_the_predictor_and_leaves_the_encoder_as_loaded():
    model = _model(rollout_weight=0.5)
    before = {k: v.clone() for k, v in model.latents.encoder.state_dict().items()}
    inputs, actions = _windows()
    terms = model(inputs, actions, mode="loss")
    assert set(terms) == {"loss_teacher_forcing", "loss_rollout"} and all(torch.isfinite(v) for v in terms.values())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    sum(terms.values()).backward()
    assert model.proj_out.weight.grad.abs().sum() > 0
    opt.step()
    model.train()
    assert not model.latents.encoder.training  # a frozen encoder stays in eval mode
    assert all(torch.equal(before[k], v) for k, v in model.latents.encoder.state_dict().items())
    one_step = model(inputs[:, :3], actions[:, :1], mode="loss")
    assert float(one_step["loss_rollout"]) == 0.0  # k = 1: nothing to roll out


def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ConfigError, match="frozen=True"):
        _model(encoder=dict(TINY_ENCODER, frozen=False))
    with pytest.raises(ConfigError, match="width=31"):
        _model(width=31)
    model = _model()
    inputs, actions = _windows()
    with pytest.raises(DataError, match="expected \\(B, 4, H, W, C\\)"):
        model(inputs[:, :3], actions, mode="loss")
    with pytest.raises(DataError, match="needs actions"):
        model(inputs, mode="loss")


def test_predictor_learns_env_dynamics_from_a_few_hundred_recorded_steps(tmp_path):
    """~280 random-action steps of a 6x6 map: after 150 updates the held-out rollout error, 1 and 2 steps ahead, is
    below the copy-the-last-latent baseline's."""
    common = dict(env=TINY_ENV, data_root=str(tmp_path / "rec"), episodes=50, val_episodes=10, seed=0)
    train, val = EnvTransitionDataset(split="train", **common), EnvTransitionDataset(split="val", **common)
    assert 200 <= train.metainfo["steps"] <= 400
    model = _model()
    inputs = torch.stack([train[i]["inputs"] for i in range(len(train))])
    actions = torch.stack([train[i]["actions"] for i in range(len(train))])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randint(len(inputs), (32,), generator=generator)
        loss = sum(model(inputs[idx], actions[idx], mode="loss").values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    held_out = [val[i] for i in range(len(val))]
    results = model.eval()(torch.stack([s["inputs"] for s in held_out]), torch.stack([s["actions"] for s in held_out]),
                           mode="predict")
    rollout = torch.stack([r["rollout_l1"] for r in results]).mean(0)  # (k,)
    copy = torch.stack([r["copy_l1"] for r in results]).mean(0)
    assert (rollout < 0.85 * copy).all(), (rollout, copy)
