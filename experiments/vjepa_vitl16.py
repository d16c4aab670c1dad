# V-JEPA ViT-L/16 pretraining, the full-size recipe: 16 frames at 224 px (tubelet 2, patch 16), mask ratio 0.8
# (short- and long-range multi-block masks), predictor 384 wide and 6 deep, L1 + temporal causality (0.1),
# AdamW lr 1e-4 / weight decay 0.05, cosine schedule with 10 warm-up epochs of 100, batch 16 per process, EMA
# target momentum 0.996 -> 1.0. On GPUs add --amp (bfloat16, as the official recipe) and --launcher pytorch.
# The data fragment is the synthetic set (64 px, upsampled here); for real video point a VideoCaptionDataset at
# your caption JSON. Check that everything builds and one step runs on CPU with a smaller batch:
#   python tools/run.py experiments/vjepa_vitl16.py --dry-run --cfg-options loader.batch_size=1 \
#       loader.num_workers=0 loader.persistent_workers=False
_base_ = [
    "_base_/default_runtime.py",
    "_base_/datasets/synthetic_disaster.py",
    "_base_/models/vjepa_vitl16.py",
]

loader = dict(batch_size=16, num_workers=8)
clip = dict(video_length=16, frame_sample_rate=2, img_size=224)
train_dataloader = dict(dataset=dict(pipeline=dict(crop_scale=(0.3, 1.0))))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None

max_epochs = 100  # the schedule, the loop and the warm-up follow these two: `tools/run.py ... max_epochs=50`
warmup_epochs = 10
# fused=True: one AdamW kernel over all parameters (CPU and CUDA) instead of torch's CPU default, one parameter at a
# time: the V-JEPA step 2-5% faster, measured side by side (benchmarks/vjepa_step.py --candidates, docs/pretraining.md)
optim_wrapper = dict(optimizer=dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05,
                                    fused=True),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=True, begin=0, end="${warmup_epochs}",
         convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", by_epoch=True, begin="${warmup_epochs}", end="${max_epochs}", eta_min=1e-6,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs="${max_epochs}")
custom_hooks = [
    dict(type="JEPATargetEMAHook", momentum=0.996, end_momentum=1.0),
    dict(type="CollapseWatchHook", interval=200),
]
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=20),
    checkpoint=dict(type="CheckpointHook", interval=5, max_keep_ckpts=3, save_last=True),
)
