# V-JEPA pretraining at tiny size on the synthetic disaster set, on 2 CPU cores in a few minutes.
# Clips: 8 frames taken every 4th frame (the whole 4 s video) at 32x32; the model is _base_/models/vjepa_tiny.py
# (L1 latent reconstruction + temporal causality loss at weight 0.1). The EMA target momentum rises 0.99 -> 1.0
# (the recipe's 0.996 would leave the target mostly at its random init after a few hundred steps); the collapse
# watch logs feature std, effective rank and prediction/target cosine every 45 iterations.
# Then: python tools/probe.py experiments/vjepa_pretrain_tiny.py  (pretrained vs random-init linear probe)
_base_ = [
    "_base_/default_runtime.py",
    "_base_/datasets/synthetic_disaster.py",
    "_base_/models/vjepa_tiny.py",
]

loader = dict(batch_size=16, num_workers=1)
# one CPU for the loader worker, the rest for training: on 2 cores 0.11 s per iteration instead of 0.18 with both
# training threads and the worker taking turns (docs/pretraining.md, "Speed")
compute_threads = "auto"
clip = dict(video_length=8, frame_sample_rate=4, img_size=32)  # the clips the later phases feed this encoder
train_dataloader = dict(dataset=dict(pipeline=dict(crop_scale=(0.5, 1.0))))
# Self-supervised pretraining has no validation loop; the probe (tools/probe.py) evaluates the features.
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None

max_epochs = 30  # the schedule, the loop and the checkpoint follow it: `tools/run.py ... max_epochs=10`
learning_rate = 1e-3  # a top-level knob (as the phase-2 experiments have): `tools/run.py ... learning_rate=5e-4`
# fused=True: one AdamW kernel over all parameters (CPU and CUDA) instead of torch's CPU default, one parameter at a
# time: the V-JEPA step 2-5% faster, measured side by side (benchmarks/vjepa_step.py --candidates, docs/pretraining.md)
optim_wrapper = dict(optimizer=dict(type="AdamW", lr="${learning_rate}", betas=(0.9, 0.999), weight_decay=0.05,
                                    fused=True),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", by_epoch=True, begin=2, end="${max_epochs}", eta_min=1e-5,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs="${max_epochs}")
custom_hooks = [
    dict(type="JEPATargetEMAHook", momentum=0.99, end_momentum=1.0),
    dict(type="CollapseWatchHook", interval=45),
]
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=9),
    checkpoint=dict(type="CheckpointHook", interval="${max_epochs}", max_keep_ckpts=1, save_last=True),
)
