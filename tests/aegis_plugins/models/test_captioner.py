"""VideoCaptioner: widths flow, labels mask everything but the caption, only the connector trains, it learns to
caption, generation (greedy and beam) and prediction dicts, captions tokenized before forward, and the per-epoch
samples hook."""
import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import HOOKS, MODELS
from aegis_plugins.models.captioner import IGNORE_INDEX

ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=2, img_size=16, frozen=True)
CONNECTOR = dict(type="QFormer", num_query_tokens=4, depth=2, hidden_size=32, num_heads=2, intermediate_size=64)
LLM = dict(type="TinyCausalLM", vocab_size=64, hidden_size=48, num_layers=2, num_heads=2, max_position_embeddings=64)
CFG = dict(type="VideoCaptioner", encoder=ENCODER, connector=CONNECTOR, llm=LLM, prompt="Describe the disaster:",
           max_new_tokens=8)
CAPTIONS = ["Water level rising rapidly", "Fire spreading slowly"]


def _build(**overrides):
    torch.manual_seed(0)
    return build_component(dict(copy.deepcopy(CFG), **overrides), MODELS)


def _videos():
    torch.manual_seed(1)
    return torch.randn(2, 3, 2, 16, 16)


def _loss(model, videos, samples):
    """The training loss as ``train_step`` computes it: the data preprocessor tokenizes, then ``forward``."""
    return model(**model.data_preprocessor(dict(inputs=videos, data_samples=samples), True), mode="loss")["loss"]


def test_widths_flow_from_encoder_and_llm():
    model = _build()
    assert model.connector(torch.randn(2, 4, 32)).shape == (2, 4, 48)  # input 32 from encoder, output 48 from LLM
    assert model(_videos(), mode="tensor").shape == (2, 4, 48)


@pytest.mark.parametrize("key,value,supplied", [("input_dim", 64, 32), ("output_dim", 32, 48)])
def test_an_explicit_width_that_contradicts_the_injected_one_is_an_error(key, value, supplied):
    """The Connector family injects input_dim (the encoder's width) and output_dim (the LLM's): a config that sets
    one to another value is named with both values."""
    with pytest.raises(ConfigError, match=rf"model.connector.{key}={value} does not match the {supplied} its parent "
                                          rf"supplies"):
        _build(connector=dict(CONNECTOR, **{key: value}))


@pytest.mark.parametrize("position", ["before_prompt", "after_prompt"])
def test_labels_mask_prefix_prompt_and_padding(position):
    model = _build(prefix_position=position)
    prefix = model(_videos(), mode="tensor")
    embeds, mask, labels = model.assemble(prefix, [model.tokenize_caption(c) for c in CAPTIONS])
    prompt = model.llm.encode("Describe the disaster:")
    lead = 1 + 4 + len(prompt)  # <s>, 4 queries, prompt
    prefix_at = 1 if position == "before_prompt" else 1 + len(prompt)
    assert torch.equal(embeds[:, prefix_at: prefix_at + 4], prefix)
    assert embeds.shape[:2] == labels.shape == mask.shape
    assert (labels[:, :lead] == IGNORE_INDEX).all()
    for i, caption in enumerate(CAPTIONS):
        expected = model.llm.encode(" " + caption) + [model.llm.eos_token_id]
        counted = labels[i][labels[i] != IGNORE_INDEX].tolist()
        assert counted == expected  # every caption token and </s> counts, nothing else
        assert labels[i, lead: lead + len(expected)].tolist() == expected
        assert (labels[i, lead + len(expected):] == IGNORE_INDEX).all()  # padding
        assert mask[i].sum() == lead + len(expected)
    # the caption positions hold the caption's own token embeddings
    ids = torch.tensor(model.llm.encode(" " + CAPTIONS[0]))
    assert torch.allclose(embeds[0, lead: lead + len(ids)], model.llm.embed_tokens(ids))


def test_only_connector_trains_and_frozen_params_do_not_change():
    model = _build()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("connector.") for n in trainable)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("connector.")}
    connector_before = {n: p.detach().clone() for n, p in model.connector.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.05)
    model.train()
    assert not model.encoder.training and not model.llm.model.training and model.connector.training
    samples = [dict(caption=c) for c in CAPTIONS]
    for _ in range(3):
        loss = _loss(model, _videos(), samples)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if not n.startswith("connector."))
    assert any(not torch.equal(p, connector_before[n]) for n, p in model.connector.named_parameters())


PARAPHRASES = [["Water level rising rapidly", "The flood water is rising rapidly"],
               ["Fire spreading slowly", "A wildfire spreads slowly"]]


@pytest.fixture(scope="module")
def pretrained_lm(tmp_path_factory):
    """The recipe's first step at toy size: a tiny LM trained on caption text alone (with paraphrase context)."""
    from aegis_plugins.llms.tiny_causal_lm import export_tiny_lm
    folder = tmp_path_factory.mktemp("lm")
    (folder / "captions.json").write_text(json.dumps([dict(video_path=f"{i}.mp4", caption=c[0], captions=c)
                                                      for i, c in enumerate(PARAPHRASES)]))
    torch.manual_seed(0)
    pre = build_component(dict(type="CaptionLMPretrainer", prompt="Describe the disaster:", context_prob=0.5,
                               llm=dict(LLM, frozen=False, corpus_file=str(folder / "captions.json"))), MODELS)
    samples = [dict(caption=c, captions=group) for group in PARAPHRASES for c in group]
    opt = torch.optim.AdamW(pre.parameters(), lr=3e-3)
    pre.train()
    for _ in range(150):
        loss = pre(None, samples, mode="loss")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return str(export_tiny_lm(pre.llm, folder / "lm"))


def test_learns_to_caption_two_videos_and_predicts(pretrained_lm):
    model = _build(llm=dict(LLM, checkpoint=pretrained_lm))
    assert not any(p.requires_grad for p in model.llm.parameters())
    videos = _videos()
    captions = [group[0] for group in PARAPHRASES]
    samples = [dict(caption=c, captions=[c], class_name=n, video_path=f"{n}.mp4")
               for c, n in zip(captions, ["flood", "wildfire"])]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    model.train()
    for _ in range(80):
        loss = _loss(model, videos, samples)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    preds = model(videos, samples, mode="predict")
    assert [p["pred_caption"] for p in preds] == captions
    assert preds[0]["class_name"] == "flood" and preds[1]["video_path"] == "wildfire.mp4"
    assert model.generate(videos, num_beams=3) == captions
    short = model.generate(videos, max_new_tokens=2)
    assert [model.llm.encode(t) for t in short] == [model.llm.encode(" " + c)[:2] for c in captions]


def test_predict_is_deterministic_and_mode_errors():
    model = _build().eval()
    assert model.generate(_videos()) == model.generate(_videos())
    with pytest.raises(ConfigError, match="expected 'loss', 'predict' or 'tensor'"):
        model(_videos(), mode="train")
    with pytest.raises(DataError, match="no 'caption'"):
        _loss(model.train(), _videos(), [dict(label=0), dict(label=1)])


def test_samples_hook_logs_and_writes(tmp_path):
    from mmengine.logging import MMLogger
    model = _build()
    batch = dict(inputs=_videos(),
                 data_samples=[dict(caption=c, video_path=f"v/{i}.mp4") for i, c in enumerate(CAPTIONS)])
    hook = build_component(dict(type="CaptionSamplesHook", num_samples=3, interval=2), HOOKS)
    runner = SimpleNamespace(work_dir=str(tmp_path), epoch=0, model=model, _val_dataloader=[batch, batch, batch],
                             logger=MMLogger.get_instance("samples_hook_test"))
    model.train()
    hook.before_train(runner)
    hook.after_train_epoch(runner)  # epoch 1: not a multiple of interval=2
    runner.epoch = 1
    hook.after_train_epoch(runner)  # epoch 2
    assert model.training  # the hook restores the mode
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 0, 0, 2, 2, 2]
    assert [r["reference"] for r in rows[:3]] == [CAPTIONS[0], CAPTIONS[1], CAPTIONS[0]]
    expected = model.eval().generate(_videos())
    assert [r["generated"] for r in rows[3:5]] == expected
    assert f"generated: {expected[1]}" in (tmp_path / "examples.txt").read_text()


def test_show_alerts_prints_generated_beside_reference(tmp_path):
    import textwrap

    import numpy as np

    from aegis_plugins.data.video_io import write_video
    from aegis_plugins.models.captioner_inference import show_alerts

    entries = []
    pairs = [("Water level rising rapidly", "flood"), ("Fire spreading slowly", "wildfire")]
    for i, (caption, cls) in enumerate(pairs):
        frames = np.full((4, 16, 16, 3), 40 * (i + 1), np.uint8)
        write_video(str(tmp_path / f"{i}.mp4"), frames, fps=4)
        entries.append(dict(video_path=f"{i}.mp4", caption=caption, class_name=cls))
    (tmp_path / "test.json").write_text(json.dumps(entries))
    model_cfg = dict(copy.deepcopy(CFG), max_new_tokens=3)
    experiment = tmp_path / "tiny_vlm.py"
    experiment.write_text(textwrap.dedent(f"""
        model = {model_cfg!r}
        test_dataloader = dict(batch_size=2, collate_fn=dict(type="aegis.video_collate"),
            dataset=dict(type="VideoCaptionDataset", ann_file={str(tmp_path / "test.json")!r}, test_mode=True,
                         pipeline=dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=1, img_size=16)))
    """))
    torch.manual_seed(0)
    model = build_component(model_cfg, MODELS)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / "epoch_1.pth")
    lines = []
    rows = show_alerts(str(experiment), checkpoint=str(tmp_path / "epoch_1.pth"), num=5, print_fn=lines.append)
    assert [r["reference"] for r in rows] == ["Water level rising rapidly", "Fire spreading slowly"]
    assert [r["class_name"] for r in rows] == ["flood", "wildfire"]
    text = "\n".join(lines)
    assert "reference: Fire spreading slowly" in text and text.count("ALERT:") == 2
    assert all(len(r["generated"].split()) <= 3 for r in rows)  # max_new_tokens=3 from the experiment


def test_runner_trains_and_scores_the_test_split_at_the_end(tmp_path):
    """A real Runner: 2 epochs on real video files, samples every epoch, test split scored and shown at the end."""
    import numpy as np

    from aegis.config import load_experiment
    from aegis.engine import read_metrics_json
    from aegis.run_setup import run
    from aegis_plugins.data.video_io import write_video

    entries = []
    for i, (caption, cls, speed) in enumerate([("Water level rising rapidly", "flood", "fast"),
                                               ("Fire spreading slowly", "wildfire", "slow")] * 2):
        write_video(str(tmp_path / f"{i}.mp4"), np.full((4, 16, 16, 3), 60 * (i % 2) + 20, np.uint8), fps=4)
        entries.append(dict(video_path=f"{i}.mp4", caption=caption, captions=[caption], class_name=cls, speed=speed))
    (tmp_path / "pairs.json").write_text(json.dumps(entries))
    loader = dict(batch_size=2, num_workers=0, collate_fn=dict(type="aegis.video_collate"),
                  sampler=dict(type="DefaultSampler", shuffle=False),
                  dataset=dict(type="VideoCaptionDataset", ann_file=str(tmp_path / "pairs.json"), test_mode=True,
                               pipeline=dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=1,
                                             img_size=16)))
    experiment = tmp_path / "tiny_vlm.py"
    experiment.write_text("\n".join([
        "_base_ = [" + repr(str(Path(__file__).resolve().parents[3] / "experiments/_base_/default_runtime.py")) + "]",
        f"model = {dict(copy.deepcopy(CFG), max_new_tokens=4)!r}",
        f"train_dataloader = {loader!r}", f"val_dataloader = {loader!r}", f"test_dataloader = {loader!r}",
        "val_evaluator = [dict(type='CaptionMetric'), dict(type='DisasterAccuracyMetric')]",
        "test_evaluator = val_evaluator", "val_cfg = dict()", "test_cfg = dict()",
        "train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)",
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))",
        "custom_hooks = [dict(type='CaptionSamplesHook', num_samples=2, test_at_end=True)]",
        "default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=2))",
        "vis_backends = [dict(type='LocalVisBackend')]",
        "visualizer = dict(type='Visualizer', vis_backends=vis_backends, name='tiny_vlm_visualizer')",
    ]))
    cfg = load_experiment(str(experiment), work_dir=str(tmp_path / "work"))
    run(cfg)
    work = tmp_path / "work"
    epochs = [json.loads(line)["epoch"] for line in (work / "samples.jsonl").read_text().splitlines()]
    assert epochs == [0, 0, 1, 1, 2, 2]
    metrics = read_metrics_json(work)
    for key in ("test/caption/bleu4", "test/caption/cider", "test/disaster/type_acc", "test/disaster/dynamics_acc",
                "val/disaster/type_acc"):
        assert key in metrics and 0.0 <= metrics[key] <= 100.0
    shown = (work / "test_examples.txt").read_text()
    assert "reference: Water level rising rapidly" in shown and "generated:" in shown


def test_motion_tokens_append_time_differences_with_their_grid():
    ENCODER4 = dict(ENCODER, num_frames=4)  # 2 time steps of tokens: one difference step is appended
    model = _build(encoder=ENCODER4, connector=dict(CONNECTOR, temporal_pos_embed=True, max_temporal_positions=4),
                   motion_tokens=True)
    seen = []
    model.connector.register_forward_pre_hook(lambda module, args, kwargs: seen.append((args, kwargs)),
                                              with_kwargs=True)
    videos = torch.randn(2, 3, 4, 16, 16)
    assert model(videos, mode="tensor").shape == (2, 4, 48)
    (tokens,), kwargs = seen[-1]
    assert kwargs["grid"] == (3, 2, 2) and tokens.shape == (2, 12, 32)
    base = model.encoder(videos)  # (B, T'HW, D) = (2, 8, 32)
    assert torch.allclose(tokens[:, :8], base) and torch.allclose(tokens[:, 8:], base[:, 4:] - base[:, :4])


def test_captions_are_tokenized_by_the_data_preprocessor_not_in_forward():
    model = _build().train()
    samples = [dict(caption=c, captions=[c, "another one"]) for c in CAPTIONS]
    calls = []
    encode = model.llm.encode
    model.llm.encode = lambda text: calls.append(text) or encode(text)  # a spy: the same ids, calls recorded
    data = model.data_preprocessor(dict(inputs=_videos(), data_samples=samples), True)
    assert calls == [" " + c for c in CAPTIONS]  # the dataset's caption, once per sample
    assert [s["caption_ids"] for s in data["data_samples"]] == [encode(" " + c) + [model.llm.eos_token_id]
                                                                for c in CAPTIONS]
    calls.clear()
    loss = model(**data, mode="loss")["loss"]
    assert calls == []  # forward reads the ids; it never tokenizes
    ids_only = [dict(caption_ids=s["caption_ids"]) for s in data["data_samples"]]
    assert torch.equal(model(_videos(), ids_only, mode="loss")["loss"], loss)  # token ids alone are enough
    assert "caption_ids" not in model.data_preprocessor(dict(inputs=_videos(), data_samples=samples),
                                                        False)["data_samples"][0]  # evaluation generates: no ids
    with pytest.raises(ConfigError, match="no 'caption_ids'.*data_preprocessor"):
        model(_videos(), samples, mode="loss")


def test_sample_all_captions_on_the_model_names_its_new_place():
    with pytest.raises(ConfigError, match="train_dataloader.dataset.sample_all_captions=False"):
        _build(sample_all_captions=False)


def test_a_missing_encoder_checkpoint_names_the_key_and_the_working_directory(tmp_path, monkeypatch):
    from aegis.errors import CheckpointError
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as info:
        _build(encoder_checkpoint="work_dirs/vjepa_pretrain_tiny")
    message = str(info.value)
    assert "model.encoder_checkpoint='work_dirs/vjepa_pretrain_tiny'" in message
    assert f"working directory, here {tmp_path}" in message and "train that experiment first" in message
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "epoch_1.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="model.encoder_checkpoint='run'.*without a last_checkpoint marker"):
        _build(encoder_checkpoint="run")  # a folder is a run's work dir only with mmengine's marker


def test_checkpoints_skip_frozen_weights_that_have_a_file(pretrained_lm, tmp_path):
    from aegis_plugins.models.captioner_inference import load_captioner_weights
    from aegis.registry import ENCODERS
    torch.manual_seed(5)
    encoder_file = tmp_path / "encoder.pth"
    torch.save(build_component(ENCODER, ENCODERS).state_dict(), encoder_file)
    cfg = dict(encoder=dict(ENCODER, checkpoint=str(encoder_file), checkpoint_key=None),
               llm=dict(LLM, checkpoint=pretrained_lm))
    model = _build(**cfg)
    keys = list(model.state_dict())
    assert keys and all(k.startswith("connector.") for k in keys)  # encoder and LM come from their own files
    assert len(_build().state_dict()) > len(keys)  # without files everything is kept
    with torch.no_grad():
        for p in model.connector.parameters():
            p.add_(0.05)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / "epoch_1.pth")
    torch.manual_seed(123)  # a different global seed: only the files and the checkpoint decide the weights
    again = build_component(dict(copy.deepcopy(CFG), **cfg), MODELS)
    load_captioner_weights(again, str(tmp_path / "epoch_1.pth"))
    assert torch.allclose(again.eval()(_videos(), mode="tensor"), model.eval()(_videos(), mode="tensor"))


REPO = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without the weights or CUDA")
def test_vlm_t4_stops_at_once_naming_what_is_missing():
    import time

    from aegis.config import load_experiment
    from aegis.errors import CheckpointError
    cfg = load_experiment(str(REPO / "experiments" / "vlm_t4.py"))
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        build_component(cfg.model, MODELS, path="model")
    message = str(info.value)
    assert time.perf_counter() - start < 5  # nothing heavy was built first
    assert "model.encoder_checkpoint='checkpoints/vjepa/vitl16.pth.tar'" in message
    assert "model.llm.name_or_path='meta-llama/Llama-3.1-8B-Instruct'" in message
    assert "bitsandbytes" in message and "CUDA" in message


@pytest.mark.slow
def test_vlm_t4_cpu_dry_run_builds_and_steps():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, str(REPO / "tools" / "run.py"),
                             str(REPO / "experiments" / "vlm_t4_cpu_dryrun.py"), "--dry-run"],
                            cwd=REPO, capture_output=True, text=True, timeout=600,
                            env=dict(__import__("os").environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Dry run finished" in result.stdout + result.stderr
