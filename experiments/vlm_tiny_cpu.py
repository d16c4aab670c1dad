# Phase 2 on the embedded default: caption the synthetic disaster videos on 2 CPU cores in under 10 minutes.
# Frozen phase-1 V-JEPA encoder (work_dirs/vjepa_pretrain_tiny) -> trainable Q-Former -> soft prefix -> frozen tiny LM
# pretrained on the captions (work_dirs/lm_pretrain_tiny/lm). Only the Q-Former trains. Every epoch the validation
# split is captioned and scored (BLEU-4, CIDEr, disaster-type and dynamics accuracy) and a few (video, reference,
# generated) samples are logged and appended to <work_dir>/samples.jsonl; the test split is scored at the end.
# Run order (make demo): vjepa_pretrain_tiny -> lm_pretrain_tiny -> this -> print alerts (show_alerts).
_base_ = ["_base_/default_runtime.py", "_base_/models/tiny_lm.py"]

data = dict(video_caption_pairs="data/synthetic_disaster/captions.json")  # the guide's key (synthetic set root)
clip = dict(type="VideoClipPipeline", video_length=8, frame_sample_rate=4, img_size=32)  # as in phase 1

model = dict(
    type="VideoCaptioner",
    # the phase-1 tiny encoder (same sizes as _base_/models/vjepa_tiny.py), its EMA target weights, frozen
    encoder=dict(type="VJEPAEncoder", arch=None, embed_dim=128, depth=4, num_heads=4, patch_size=8, tubelet_size=2,
                 num_frames=8, img_size=32, checkpoint_key="target_encoder", frozen=True),
    encoder_checkpoint="work_dirs/vjepa_pretrain_tiny",
    connector=dict(type="QFormer", num_query_tokens=8, depth=2, hidden_size=128, num_heads=4, intermediate_size=256,
                   temporal_pos_embed=True, max_temporal_positions=8),
    llm=dict(checkpoint="work_dirs/lm_pretrain_tiny/lm/model.pth"),
    prompt="Describe the disaster in this video:",
    max_new_tokens=20,
    num_beams=1,
)

_root = data["video_caption_pairs"].rsplit("/", 1)[0]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="SyntheticDisasterDataset", data_root=_root, split="train", pipeline=clip),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="SyntheticDisasterDataset", data_root=_root, split="val", pipeline=clip),
)
test_dataloader = dict(val_dataloader, dataset=dict(type="SyntheticDisasterDataset", data_root=_root, split="test",
                                                     pipeline=clip))
val_evaluator = [dict(type="CaptionMetric"), dict(type="DisasterAccuracyMetric")]
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=4)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.05, betas=(0.9, 0.95)),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=False, begin=0, end=20),
    dict(type="CosineAnnealingLR", eta_min=1e-5, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
]
custom_hooks = [dict(type="CaptionSamplesHook", num_samples=6, test_at_end=True)]
default_hooks = dict(checkpoint=dict(type="CheckpointHook", interval=5, max_keep_ckpts=2, save_last=True))
