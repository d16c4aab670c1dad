"""JEPATargetEMAHook, CollapseWatchHook and LossWeightScheduleHook inside a real AegisRunner: schedules, EMA effect,
logged names, warnings, resume."""
import glob
import json
import os

import pytest
import torch
from torch.utils.data import Dataset

from aegis.build import build_component
from aegis.errors import ConfigError
from aegis.registry import HOOKS, MODELS

from aegis_plugins.hooks.jepa import CollapseWarning, collapse_statistics

ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=6, img_size=16)


class _Clips(Dataset):
    """Eight fixed random clips (C=3, T=6, 16x16) as dict samples."""

    def __init__(self) -> None:
        self.clips = torch.randn(8, 3, 6, 16, 16, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i):
        return dict(inputs=self.clips[i])


def _unique_name() -> str:
    """A run name of its own: mmengine keys its Visualizer (and where scalars.json goes) by the run name, which
    defaults to the start second, so two runners started in the same second would share one."""
    import uuid

    return f"jepa_hooks_{uuid.uuid4().hex}"


def _run(tmp_path, max_iters=4, collapse=None, extra_hooks=(), checkpoint=None, resume=None):
    """Train the tiny JEPA model for ``max_iters`` in a real AegisRunner; ``resume``: a checkpoint to continue."""
    from aegis.engine import AegisRunner

    model = build_component(dict(type="JEPAPretrainer", encoder=ENCODER,
                                 predictor=dict(type="JEPAPredictor", embed_dim=16, depth=1, num_heads=2),
                                 mask_generators=[dict(type="RandomTubeMaskGenerator", mask_ratio=0.5)]), MODELS)
    runner = AegisRunner(
        model=model, work_dir=str(tmp_path), default_scope="aegis", experiment_name=_unique_name(),
        train_dataloader=dict(dataset=_Clips(), sampler=dict(type="DefaultSampler", shuffle=False), batch_size=2,
                              num_workers=0, collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="AdamW", lr=1e-3)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(logger=dict(type="LoggerHook", interval=1), checkpoint=checkpoint),
        custom_hooks=[dict(type="JEPATargetEMAHook", momentum=0.5, end_momentum=1.0),
                      collapse or dict(type="CollapseWatchHook", interval=2), *extra_hooks],
        load_from=resume or None, resume=bool(resume),
        log_processor=dict(type="AegisLogProcessor", window_size=1, by_epoch=False),
        visualizer=dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend"),
                                                         dict(type="TensorboardVisBackend")]),
    )
    start = [p.clone() for p in model.target_encoder.parameters()]
    runner.train()
    return runner, model, start


def test_ema_moves_the_target_and_every_term_is_logged_under_the_guide_names(tmp_path):
    torch.manual_seed(0)
    runner, model, start = _run(tmp_path)
    assert any(not torch.equal(a, b) for a, b in zip(start, model.target_encoder.parameters()))
    scalars = glob.glob(os.path.join(str(tmp_path), "*", "vis_data", "scalars.json"))
    assert scalars, "LocalVisBackend wrote no scalars.json"
    rows = [json.loads(line) for line in open(scalars[0])]
    keys = set().union(*rows)
    for name in ("train/loss", "train/reconstruction_loss", "train/causality_loss", "train/ema_momentum",
                 "train/collapse_target_std", "train/collapse_effective_rank", "train/collapse_pred_cosine"):
        assert name in keys, (name, sorted(keys))
    momenta = [row["train/ema_momentum"] for row in rows if "train/ema_momentum" in row]
    assert momenta == pytest.approx([0.5, 0.625, 0.75, 0.875])  # 0.5 + 0.5 * i / 4
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(os.path.dirname(scalars[0]))
    events.Reload()
    assert {"train/loss", "train/reconstruction_loss", "train/causality_loss"} <= set(events.Tags()["scalars"])


def test_collapse_watch_warns_below_thresholds(tmp_path):
    torch.manual_seed(0)
    hook = dict(type="CollapseWatchHook", interval=2, min_std=10.0, min_rank_fraction=0.0, min_cosine=-1.0)
    with pytest.warns(CollapseWarning, match="target feature std .* < min_std 10.0"):
        runner, _, _ = _run(tmp_path, max_iters=2, collapse=hook)
    watch = [h for h in runner.hooks if type(h).__name__ == "CollapseWatchHook"][0]
    assert [entry["iter"] for entry in watch.history] == [2]


def test_collapse_statistics_separate_healthy_from_collapsed_features():
    torch.manual_seed(0)
    healthy = torch.randn(256, 32)
    collapsed = torch.randn(1, 32).expand(256, 32) + 1e-4 * torch.randn(256, 32)
    good, bad = collapse_statistics(healthy, healthy, healthy), collapse_statistics(collapsed, healthy, -healthy)
    assert good["target_std"] > 0.8 and bad["target_std"] < 0.01
    assert good["effective_rank"] > 20 and bad["effective_rank"] < good["effective_rank"]
    assert good["pred_cosine"] == pytest.approx(1.0) and bad["pred_cosine"] == pytest.approx(-1.0)
    low_rank = torch.randn(256, 2) @ torch.randn(2, 32)
    assert collapse_statistics(low_rank, healthy, healthy)["effective_rank"] < 2.5


def test_momentum_schedule_and_bad_configs():
    hook = build_component(dict(type="JEPATargetEMAHook", momentum=0.996, end_momentum=1.0), HOOKS)
    assert hook.momentum_at(0, 100) == pytest.approx(0.996)
    assert hook.momentum_at(50, 100) == pytest.approx(0.998)
    assert hook.momentum_at(100, 100) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="momentum <= end_momentum"):
        build_component(dict(type="JEPATargetEMAHook", momentum=0.999, end_momentum=0.99), HOOKS)
    with pytest.raises(ConfigError, match="interval"):
        build_component(dict(type="CollapseWatchHook", interval=0), HOOKS)


def _logged(work_dir, key):
    """{iteration (1-based): value} of one scalar from the run's scalars.json (LoggerHook interval 1)."""
    scalars = glob.glob(os.path.join(str(work_dir), "*", "vis_data", "scalars.json"))
    assert len(scalars) == 1, scalars
    rows = [json.loads(line) for line in open(scalars[0])]
    return {row["step"]: row[key] for row in rows if key in row}


SCHEDULE = dict(type="LossWeightScheduleHook", loss_name="causality_loss", start_iter=1, ramp_iters=4)


def test_loss_weight_schedule_reaches_the_loss_and_resumes_exactly(tmp_path):
    torch.manual_seed(0)
    runner, model, _ = _run(tmp_path / "full", max_iters=6, extra_hooks=[SCHEDULE])
    weights = _logged(tmp_path / "full", "train/causality_loss_weight")
    # TemporalCausalityLoss is configured with 0.1 (JEPAPretrainer's default losses): 0 before iteration 1, then
    # a linear ramp over 4 iterations to the full weight
    assert [weights[i] for i in range(1, 7)] == pytest.approx([0.0, 0.0, 0.025, 0.05, 0.075, 0.1])
    causality = _logged(tmp_path / "full", "train/causality_loss")
    assert causality[1] == 0.0 and causality[2] == 0.0 and causality[3] > 0.0  # the weight reaches the loss term
    assert model.losses[1].loss_weight == pytest.approx(0.1)  # configured weight back after training

    torch.manual_seed(0)
    _run(tmp_path / "first", max_iters=3, extra_hooks=[SCHEDULE],
         checkpoint=dict(type="CheckpointHook", interval=3, by_epoch=False))
    checkpoint = tmp_path / "first" / "iter_3.pth"
    assert checkpoint.exists()
    resumed_runner, _, _ = _run(tmp_path / "resumed", max_iters=6, extra_hooks=[SCHEDULE], resume=str(checkpoint))
    resumed = _logged(tmp_path / "resumed", "train/causality_loss_weight")
    assert sorted(resumed) == [4, 5, 6]
    assert [resumed[i] for i in (4, 5, 6)] == pytest.approx([weights[i] for i in (4, 5, 6)])


def test_loss_weight_schedule_shapes_and_bad_configs(tmp_path):
    linear = build_component(dict(type="LossWeightScheduleHook", start_iter=2, ramp_iters=4), HOOKS)
    assert [linear.factor_at(i) for i in range(8)] == pytest.approx([0, 0, 0, 0.25, 0.5, 0.75, 1, 1])
    cosine = build_component(dict(type="LossWeightScheduleHook", start_iter=2, ramp_iters=4, ramp="cosine"), HOOKS)
    assert [cosine.factor_at(i) for i in range(2, 7)] == pytest.approx([0, 0.1464466, 0.5, 0.8535534, 1])
    step = build_component(dict(type="LossWeightScheduleHook", start_iter=3), HOOKS)
    assert [step.factor_at(i) for i in range(5)] == [0.0, 0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="ramp_iters=-1"):
        build_component(dict(type="LossWeightScheduleHook", ramp_iters=-1), HOOKS)
    with pytest.raises(ConfigError, match="causality_loss"):  # the message lists the model's loss terms
        _run(tmp_path, max_iters=1, extra_hooks=[dict(type="LossWeightScheduleHook", loss_name="causal_loss")])


def _run_epochs(work_dir, max_epochs, cooldown, resume=None):
    """The tiny JEPA model with a tube group and a future group, 2 iterations per epoch, a checkpoint per epoch."""
    from aegis.engine import AegisRunner

    torch.manual_seed(0)
    model = build_component(dict(type="JEPAPretrainer", encoder=ENCODER,
                                 predictor=dict(type="JEPAPredictor", embed_dim=16, depth=1, num_heads=2),
                                 mask_generators=[dict(type="RandomTubeMaskGenerator", mask_ratio=0.5),
                                                  dict(type="FutureMaskGenerator", future_steps=1)]), MODELS)
    runner = AegisRunner(
        model=model, work_dir=str(work_dir), default_scope="aegis", experiment_name=_unique_name(),
        train_dataloader=dict(dataset=_Clips(), sampler=dict(type="DefaultSampler", shuffle=False), batch_size=4,
                              num_workers=0, collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="AdamW", lr=1e-2)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)),
        custom_hooks=[dict(type="JEPATargetEMAHook", momentum=0.5, end_momentum=1.0), cooldown],
        load_from=resume, resume=bool(resume),
    )
    runner.train()
    return model


def _weights(module_prefix, state):
    return {k: v for k, v in state.items() if k.startswith(module_prefix)}


def test_predictor_cooldown_freezes_encoder_and_target_and_trains_the_predictor_on_the_chosen_group(tmp_path):
    from aegis.engine.checkpoint import safe_load

    cooldown = dict(type="PredictorCooldownHook", start_epoch=1, mask_group_weights=[0, 1])
    model = _run_epochs(tmp_path / "run", 3, cooldown)
    assert model.encoders_frozen and model.mask_group_weights == [0.0, 1.0]
    first, last = (safe_load(tmp_path / "run" / f"epoch_{e}.pth")["state_dict"] for e in (1, 3))
    for prefix in ("encoder.", "target_encoder."):  # trained (and averaged) in epoch 1, still from epoch 2 on
        assert all(torch.equal(v, last[k]) for k, v in _weights(prefix, first).items()), prefix
    changed = [k for k, v in _weights("predictor.", first).items() if not torch.equal(v, last[k])]
    assert "predictor.mask_tokens" in changed and "predictor.predictor_proj.weight" in changed
    # resumed at epoch 2 (inside the cool-down), it freezes again: the encoder stays what it was
    resumed = _run_epochs(tmp_path / "resumed", 3, cooldown, resume=str(tmp_path / "run" / "epoch_2.pth"))
    assert resumed.encoders_frozen
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in _weights("encoder.", first).items())


def test_predictor_cooldown_bad_configs(tmp_path):
    with pytest.raises(ConfigError, match="expected 2 non-negative weights"):
        _run_epochs(tmp_path / "a", 2, dict(type="PredictorCooldownHook", start_epoch=1, mask_group_weights=[1]))
    model = _run_epochs(tmp_path / "b", 2, dict(type="PredictorCooldownHook", start_epoch=2))  # warned, not fatal
    assert not model.encoders_frozen
