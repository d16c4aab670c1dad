"""Alert trust: a caption's confidence is the geometric-mean probability of its generated tokens (both LLM backends,
greedy and beam), the OOD score keeps real in-distribution encoder features under the calibrated threshold and puts
unfamiliar footage above it, the calibration file round-trips and is pinned to its checkpoint, the verdict lines
name scores and thresholds, and the hook writes the calibration after a real training run."""
import copy
import json
import textwrap
from pathlib import Path

import pytest
import torch

from aegis.build import build_component
from aegis.errors import CheckpointError, ConfigError
from aegis.registry import MODELS
from aegis_plugins.models.alert_trust import (AlertTrust, Verdict, clip_features, evaluation_batches,
                                              fit_alert_trust, load_alert_trust, trust_file_for)

ROOT = Path(__file__).resolve().parents[3]
HF_FOLDER = str(ROOT / "tests" / "aegis_plugins" / "llms" / "fixtures" / "tiny_llama_hf")
ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=2, img_size=16, frozen=True)
CONNECTOR = dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2, intermediate_size=64)
TINY_LM = dict(type="TinyCausalLM", vocab_size=64, hidden_size=32, num_layers=2, num_heads=2,
               max_position_embeddings=64)
MODEL = dict(type="VideoCaptioner", encoder=ENCODER, connector=CONNECTOR, llm=TINY_LM, max_new_tokens=6)
CLIP = dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=1, img_size=16)
SYNTHETIC = dict(type="SyntheticDisasterDataset", num_videos=36, size=32, frames=8)


def _captioner(**overrides):
    torch.manual_seed(0)
    return build_component(dict(copy.deepcopy(MODEL), **overrides), MODELS).eval()


@pytest.fixture(scope="module")
def synthetic_experiment(tmp_path_factory):
    """An experiment over 36 real synthetic disaster videos (25 train, 5 val, 6 test) at 16x16, 2 frames."""
    from aegis.config import load_experiment

    folder = tmp_path_factory.mktemp("alert_trust")
    data = dict(SYNTHETIC, data_root=str(folder / "data"), pipeline=CLIP)
    experiment = folder / "tiny_vlm.py"
    experiment.write_text(textwrap.dedent(f"""
        model = {MODEL!r}
        train_dataloader = dict(batch_size=8, num_workers=0, dataset=dict({data!r}, split="train"))
        val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict({data!r}, split="val"))
        test_dataloader = dict(batch_size=8, num_workers=0, dataset=dict({data!r}, split="test"))
    """))
    return load_experiment(str(experiment)), folder


@pytest.fixture(scope="module")
def trained_tiny():
    """A tiny captioner whose LM and connector trained 60 steps on three captions of different lengths: in one
    batch it ends some captions with </s> (padding after it) and runs others to the token limit."""
    model = _captioner(llm=dict(TINY_LM, frozen=False))
    torch.manual_seed(1)
    videos = torch.randn(3, 3, 2, 16, 16)
    ids = [model.tokenize_caption(c) for c in ("Water level rising rapidly", "Fire spreading slowly", "Smoke")]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    for _ in range(60):
        embeds, mask, labels = model.assemble(model.visual_prefix(videos), ids)
        loss = model.llm(embeds, mask, labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), videos


@pytest.mark.parametrize("num_beams", [1, 3])
@pytest.mark.parametrize("backend", ["tiny_trained", "hf"])
def test_confidence_is_the_geometric_mean_probability_of_the_generated_tokens(backend, num_beams, request):
    if backend == "hf":
        model = _captioner(llm=dict(type="HFCausalLM", name_or_path=HF_FOLDER))
        torch.manual_seed(1)
        videos = torch.randn(3, 3, 2, 16, 16)
    else:
        model, videos = request.getfixturevalue("trained_tiny")
    texts, confidences = model.generate_with_confidence(videos, max_new_tokens=8, num_beams=num_beams)
    assert texts == model.generate(videos, max_new_tokens=8, num_beams=num_beams) and confidences.shape == (3,)
    # independently: the plain generation path's ids, scored by one teacher-forced forward pass
    embeds, mask, _ = model.assemble(model.visual_prefix(videos))
    ids = model.llm.generate(embeds, mask, max_new_tokens=8, num_beams=num_beams).tolist()
    eos = model.llm.eos_token_id
    rows = [row[: row.index(eos) + 1] if eos in row else row for row in ids]  # the caption and its </s>
    if backend == "tiny_trained":  # the batch holds a caption ended by </s> (then padding) and one cut at 8 tokens
        assert any(eos in row and len(row) < 8 for row in rows) and any(eos not in row for row in rows)
    embeds, mask, labels = model.assemble(model.visual_prefix(videos), rows)
    with torch.no_grad():
        log_probs = torch.log_softmax(model.llm(embeds, mask).logits.float(), dim=-1)  # (B, L, V)
    for i, row in enumerate(rows):
        positions = (labels[i] != -100).nonzero().flatten()  # where the caption's tokens sit
        token_log_probs = log_probs[i, positions - 1, labels[i, positions]]  # predicted from the position before
        assert len(positions) == len(row)
        assert confidences[i].item() == pytest.approx(token_log_probs.mean().exp().item(), abs=1e-5)
        assert 0.0 < confidences[i].item() <= 1.0


def test_ood_score_of_real_features_in_distribution_below_threshold_unfamiliar_above(synthetic_experiment):
    from aegis_plugins.models.alert_trust_report import unfamiliar_footage

    cfg, folder = synthetic_experiment
    model = _captioner()
    trust = fit_alert_trust(model, list(evaluation_batches(cfg, "train")), evaluation_batches(cfg, "val"))
    assert trust.info["num_reference"] == 25 and trust.info["num_calibration"] == 5
    held_out = torch.cat([trust.ood_scores(clip_features(model, x)) for x in evaluation_batches(cfg, "test")])
    assert (held_out <= trust.ood_threshold).sum() >= 5  # unseen disaster videos: at most one above the 95% quantile
    for kind in ("noise", "photo", "flow"):
        footage = unfamiliar_footage(str(folder / "footage"), kind, num_clips=4, size=32, frames=8)
        far = torch.cat([trust.ood_scores(clip_features(model, x))
                         for x in evaluation_batches(cfg, "test", dataset=footage)])
        assert far.shape == (4,) and bool((far > trust.ood_threshold).all()), (kind, far, trust.ood_threshold)
        assert far.min() > held_out.max()


def test_calibration_file_round_trip_and_pinned_to_its_checkpoint(synthetic_experiment, tmp_path):
    cfg, _ = synthetic_experiment
    model = _captioner()
    checkpoint = tmp_path / "epoch_1.pth"
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    from aegis_plugins.models.alert_trust import calibrate_checkpoint

    trust, path = calibrate_checkpoint(model, cfg, str(checkpoint), experiment="tiny_vlm.py", k=3,
                                       ood_quantile=0.9, confidence_quantile=0.1)
    assert path == trust_file_for(checkpoint) == tmp_path / "alert_trust.json"
    loaded = load_alert_trust(checkpoint)
    assert (loaded.k, loaded.ood_threshold, loaded.confidence_threshold) == (3, trust.ood_threshold,
                                                                            trust.confidence_threshold)
    assert loaded.info == json.loads(json.dumps(trust.info))
    assert torch.equal(loaded.reference, trust.reference) and torch.equal(loaded.feature_std, trust.feature_std)
    features = clip_features(model, next(evaluation_batches(cfg, "test")))
    assert torch.equal(loaded.ood_scores(features), trust.ood_scores(features))
    # the thresholds are the quantiles of the calibration scores it recorded (rounded outward to 5 decimals)
    ood, conf = torch.tensor(trust.info["calibration_ood_scores"]), torch.tensor(trust.info["calibration_confidences"])
    assert trust.ood_threshold == pytest.approx(float(torch.quantile(ood, 0.9)), abs=2e-5)
    assert trust.confidence_threshold == pytest.approx(float(torch.quantile(conf, 0.1)), abs=2e-5)

    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=2)), checkpoint)  # retrained: other bytes
    with pytest.raises(CheckpointError, match=r"calibrated for 'epoch_1.pth'.*tools/calibrate_alerts.py "
                                              r"--experiment tiny_vlm.py"):
        load_alert_trust(checkpoint)
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="alert_trust.json.*not a readable"):
        load_alert_trust(checkpoint)
    assert load_alert_trust(tmp_path / "elsewhere" / "epoch_1.pth") is None  # no calibration: None, not an error


def test_verdict_lines_name_the_scores_and_thresholds():
    trust = AlertTrust(torch.zeros(2, 4), torch.zeros(4), torch.ones(4), k=1, ood_threshold=2.8,
                       confidence_threshold=0.42, info=dict(calibration_split="val"))
    kept = trust.judge("Water level rising rapidly", 0.91, 1.3)
    assert kept.raised and kept.line() == ("ALERT: Water level rising rapidly (confidence 0.910 >= 0.420; "
                                           "OOD score 1.300 <= 2.800)")
    far = trust.judge("The ground is shaking gently", 0.95, 7.9)
    assert not far.raised and far.reason == "unrecognised"
    assert far.line().startswith("NO ALERT: this footage is not recognised (OOD score 7.900 > threshold 2.800, "
                                 "calibrated on the val split; confidence 0.950); nothing raised")
    unsure = trust.judge("Fire spreading slowly", 0.30, 1.0)
    assert not unsure.raised and unsure.reason == "unsure"
    assert "confidence 0.300 < threshold 0.420, calibrated on the val split" in unsure.line()
    assert Verdict("Smoke rising", 0.5).line() == ("ALERT: Smoke rising (confidence 0.500; unchecked: no alert "
                                                   "calibration for this checkpoint)")
    assert trust.ood_scores(torch.full((1, 4), 3.0)).item() == pytest.approx(3.0)  # RMS z-distance per feature
    with pytest.raises(ConfigError, match="k=0"):
        AlertTrust(torch.zeros(2, 4), torch.zeros(4), torch.ones(4), k=0, ood_threshold=1, confidence_threshold=0)


def test_hook_writes_the_calibration_of_the_final_checkpoint_after_training(synthetic_experiment, tmp_path):
    from aegis.config import load_experiment
    from aegis.run_setup import run

    cfg, folder = synthetic_experiment
    loaders = {key: dict(cfg[key], collate_fn=dict(type="aegis.video_collate"),
                         sampler=dict(type="DefaultSampler", shuffle=False))
               for key in ("train_dataloader", "val_dataloader")}
    experiment = tmp_path / "tiny_vlm_run.py"
    experiment.write_text("\n".join([
        "_base_ = [" + repr(str(ROOT / "experiments/_base_/default_runtime.py")) + "]",
        f"model = {MODEL!r}", *(f"{k} = {v!r}" for k, v in loaders.items()),
        "train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=2)",  # no validation pass: the hook's own
        "val_cfg = dict()", "val_evaluator = dict(type='DisasterAccuracyMetric')",
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))",
        "custom_hooks = [dict(type='AlertCalibrationHook', k=3)]",
        "default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1))",
    ]))
    run(load_experiment(str(experiment), work_dir=str(tmp_path / "work")))
    checkpoint = tmp_path / "work" / "epoch_1.pth"
    trust = load_alert_trust(checkpoint)  # pinned to the checkpoint the run wrote last
    assert trust is not None and trust.k == 3 and trust.info["checkpoint"] == "epoch_1.pth"
    assert trust.info["num_reference"] == 25 and trust.info["num_calibration"] == 5
    assert 0.0 < trust.confidence_threshold <= 1.0 and trust.ood_threshold > 0.0


def test_show_alerts_prints_each_clips_decision(synthetic_experiment, tmp_path):
    from aegis_plugins.models.alert_trust import calibrate_checkpoint
    from aegis_plugins.models.captioner_inference import show_alerts

    cfg, folder = synthetic_experiment
    model = _captioner()
    checkpoint = tmp_path / "epoch_1.pth"
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    lines = []
    rows = show_alerts(cfg.filename, str(checkpoint), split="test", num=4, print_fn=lines.append)
    assert "alerts UNCHECKED" in lines[0] and all(r["reason"] == "unchecked" and r["raised"] for r in rows)
    trust, path = calibrate_checkpoint(model, cfg, str(checkpoint), ood_quantile=0.5)  # a strict threshold
    lines = []
    rows = show_alerts(cfg.filename, str(checkpoint), split="test", num=4, print_fn=lines.append)
    assert len(rows) == 4 and f"alerts judged by {path}" in lines[0]
    for row, line in zip(rows, lines[1:5]):  # each clip's decision is printed with its score and threshold
        assert ("    ALERT: " in line) == row["raised"] and ("    NO ALERT: " in line) == (not row["raised"])
        assert f"OOD score {row['ood_score']:.3f}" in line and f"{trust.ood_threshold:.3f}" in line
    assert [r["raised"] for r in rows] == [r["ood_score"] <= trust.ood_threshold
                                           and r["confidence"] >= trust.confidence_threshold for r in rows]
    kept = sum(r["raised"] for r in rows)
    assert lines[-1].startswith(f"kept {kept} of 4 alerts; withheld {4 - kept}")


def test_trust_report_measures_abstention_in_and_out_of_distribution(synthetic_experiment, tmp_path):
    from aegis_plugins.models.alert_trust import calibrate_checkpoint
    from aegis_plugins.models.alert_trust_report import alert_trust_report

    cfg, folder = synthetic_experiment
    model = _captioner()
    checkpoint = tmp_path / "epoch_1.pth"
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    with pytest.raises(CheckpointError, match="alert_trust.json not found: calibrate first"):
        alert_trust_report(cfg.filename, str(checkpoint), kinds=("noise",), print_fn=print)
    calibrate_checkpoint(model, cfg, str(checkpoint))
    printed = []
    rows = alert_trust_report(cfg.filename, str(checkpoint), footage_root=str(tmp_path / "footage"), num_clips=3,
                              kinds=("noise", "blank"), print_fn=printed.append, compare_scores=True)
    assert list(rows) == ["val split", "test split", "noise", "blank"]
    assert rows["test split"]["clips"] == 6 and rows["noise"]["clips"] == 3
    for kind in ("noise", "blank"):  # nothing like the synthetic disasters: every alert withheld as unrecognised
        assert rows[kind]["abstention"] == 1.0 and rows[kind]["unrecognised"] == 3
    test = rows["test split"]
    assert test["abstention"] == (test["unrecognised"] + test["unsure"]) / 6
    assert set(test["all"]) >= {"type_acc", "dynamics_acc"}  # accuracy of all alerts beside the kept ones
    table = printed[0]
    assert "| noise | 3 | 3 | 0 | 100% |" in table and "| test split | 6 |" in table
    compared = [line for line in printed[1].splitlines() if line.startswith(("| k-NN", "| Mahalanobis"))]
    assert len(compared) == 4  # two scores x two poolings
    in_use = next(line for line in compared if line.startswith("| k-NN (k=5) | mean, std |"))
    assert in_use.split(" | ")[3:5] == ["100%", "100%"]  # the score in use withholds every noise and blank clip
