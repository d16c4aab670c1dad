"""tools/infer.py: prints the alert for a real video file, writes the annotated video, explains bad input; with the
checkpoint's alert calibration (tools/calibrate_alerts.py) it raises the alert for familiar footage and withholds it,
naming score and threshold, for footage unlike the training data."""
import importlib.util
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from aegis.build import build_component
from aegis.registry import MODELS
from aegis_plugins.data.video_io import open_video, write_video

ROOT = Path(__file__).resolve().parents[2]
MODEL = dict(
    type="VideoCaptioner",
    encoder=dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
                 num_frames=2, img_size=16, frozen=True),
    connector=dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2, intermediate_size=64),
    llm=dict(type="TinyCausalLM", vocab_size=64, hidden_size=32, num_layers=2, num_heads=2,
             max_position_embeddings=64),
    max_new_tokens=6,
)


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_tool", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _infer():
    return _tool("infer")


@pytest.fixture()
def trained(tmp_path):
    experiment = tmp_path / "tiny_vlm.py"
    experiment.write_text(textwrap.dedent(f"""
        model = {MODEL!r}
        clip = dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=1, img_size=16)
        test_dataloader = dict(batch_size=2, dataset=dict(type="VideoCaptionDataset", ann_file="unused.json",
                                                          pipeline=clip))
    """))
    torch.manual_seed(0)
    model = build_component(MODEL, MODELS)
    with torch.no_grad():
        for p in model.connector.parameters():
            p.add_(0.01)  # weights that differ from a fresh build, so loading them matters
    checkpoint = tmp_path / "epoch_1.pth"
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), checkpoint)
    video = tmp_path / "flood.mp4"
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    frames[:, 16:, :, 2] = 200  # water in the lower half
    write_video(str(video), frames, fps=4)
    return experiment, checkpoint, video, model


def test_prints_alert_and_writes_annotated_video(trained, tmp_path, capsys):
    experiment, checkpoint, video, model = trained
    out = tmp_path / "annotated.mp4"
    code = _infer()(["--video", str(video), "--checkpoint", str(checkpoint), "--experiment", str(experiment),
                     "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    alert = captured.out.splitlines()[0]
    from aegis_plugins.models.captioner_inference import clip_from_file
    from aegis.config import load_experiment
    clip = clip_from_file(load_experiment(str(experiment)), str(video))
    assert clip.shape == (3, 2, 16, 16)
    caption = model.eval().generate(clip.unsqueeze(0))[0]  # the checkpoint's weights were used
    # no calibration beside the checkpoint: the alert is raised, marked unchecked, and stderr says how to calibrate
    assert re.fullmatch(re.escape(f"ALERT: {caption} (confidence ") + r"0\.\d{3}"
                        + re.escape("; unchecked: no alert calibration for this checkpoint)"), alert)
    assert "alert_trust.json not found" in captured.err and "tools/calibrate_alerts.py" in captured.err
    reader = open_video(str(out))
    assert reader.num_frames == 6 and reader.width == 480 and reader.height > 480  # video plus the text bar
    reader.close()


def test_work_dir_as_checkpoint(trained, capsys):
    experiment, checkpoint, video, model = trained
    args = ["--video", str(video), "--checkpoint", str(checkpoint.parent), "--experiment", str(experiment)]
    assert _infer()(args) == 2  # a folder without mmengine's last_checkpoint marker is not a run's work dir
    assert "--checkpoint=" in capsys.readouterr().err
    (checkpoint.parent / "last_checkpoint").write_text(str(checkpoint))  # as mmengine leaves a work dir
    assert _infer()(args) == 0
    from aegis.config import load_experiment
    from aegis_plugins.models.captioner_inference import clip_from_file
    clip = clip_from_file(load_experiment(str(experiment)), str(video))
    assert capsys.readouterr().out.startswith("ALERT: " + model.eval().generate(clip.unsqueeze(0))[0] + " (")


def test_missing_and_bad_video(trained, tmp_path, capsys):
    experiment, checkpoint, _, _ = trained
    code = _infer()(["--video", str(tmp_path / "nope.mp4"), "--checkpoint", str(checkpoint), "--experiment",
                     str(experiment)])
    assert code == 2 and "nope.mp4" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    assert _infer()(["--video", str(junk), "--checkpoint", str(checkpoint), "--experiment", str(experiment)]) == 2
    err = capsys.readouterr().err
    assert "DataError" in err and "junk.mp4" in err
    assert _infer()(["--video", str(junk), "--checkpoint", str(tmp_path / "none.pth"), "--experiment",
                     str(experiment)]) == 2
    assert "CheckpointError" in capsys.readouterr().err


@pytest.fixture()
def calibrated(trained, tmp_path):
    """The tiny checkpoint with an experiment over 36 real synthetic disaster videos (25 train, 5 val, 6 test),
    calibrated by tools/calibrate_alerts.py."""
    _, _, _, model = trained
    data = dict(type="SyntheticDisasterDataset", data_root=str(tmp_path / "data"), num_videos=36, size=32, frames=8,
                pipeline=dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=1, img_size=16))
    experiment = tmp_path / "tiny_vlm_data.py"
    experiment.write_text(textwrap.dedent(f"""
        model = {MODEL!r}
        train_dataloader = dict(batch_size=8, num_workers=0, dataset=dict({data!r}, split="train"))
        val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict({data!r}, split="val"))
        test_dataloader = dict(batch_size=8, num_workers=0, dataset=dict({data!r}, split="test"))
    """))
    checkpoint = tmp_path / "run" / "epoch_1.pth"
    checkpoint.parent.mkdir()
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), checkpoint)
    return experiment, checkpoint, tmp_path / "data"


def test_alert_for_familiar_footage_and_none_for_unfamiliar(calibrated, tmp_path, capsys):
    from aegis_plugins.models.alert_trust import load_alert_trust
    from aegis_plugins.models.alert_trust_report import render_unfamiliar

    experiment, checkpoint, data = calibrated
    assert _tool("calibrate_alerts")(["--experiment", str(experiment), "--checkpoint", str(checkpoint)]) == 0
    assert "alert calibration written" in capsys.readouterr().out
    trust = load_alert_trust(checkpoint)
    assert trust.info["num_reference"] == 25 and trust.info["calibration_split"] == "val"
    familiar = json.loads((data / "val.json").read_text())[  # the val video most like the training clips
        int(np.argmin(trust.info["calibration_ood_scores"]))]["video_path"]
    args = ["--checkpoint", str(checkpoint), "--experiment", str(experiment)]

    assert _infer()(["--video", str(data / familiar), *args]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    found = re.fullmatch(r"ALERT: .+ \(confidence ([\d.]+) >= ([\d.]+); OOD score ([\d.]+) <= ([\d.]+)\)", line)
    assert found, line
    assert float(found.group(2)) == round(trust.confidence_threshold, 3)
    assert float(found.group(4)) == round(trust.ood_threshold, 3)

    static = tmp_path / "static.mp4"  # TV static: nothing like the synthetic scenes
    write_video(str(static), render_unfamiliar("noise", np.random.default_rng(0), size=32, frames=8), fps=4)
    assert _infer()(["--video", str(static), "--out", str(tmp_path / "annotated.mp4"), *args]) == 0
    printed = capsys.readouterr().out
    found = re.match(r"NO ALERT: this footage is not recognised \(OOD score ([\d.]+) > threshold ([\d.]+), "
                     r"calibrated on the val split; confidence [\d.]+\); nothing raised", printed)
    assert found, printed
    assert float(found.group(1)) > float(found.group(2)) == round(trust.ood_threshold, 3)
    assert "no annotated video written" in printed and not (tmp_path / "annotated.mp4").exists()

    torch.save(dict(state_dict={}, meta=dict(epoch=2)), checkpoint)  # another checkpoint in the calibrated's place
    assert _infer()(["--video", str(static), *args]) == 2
    assert "was calibrated for 'epoch_1.pth'" in capsys.readouterr().err
