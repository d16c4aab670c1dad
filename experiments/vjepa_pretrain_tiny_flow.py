# vjepa_pretrain_tiny on the flow scenes (aegis_plugins/data/synthetic_flow.py): one grey texture per video, six classes
# that differ only in how the whole texture moves (rising, spreading, expanding, shaking, sliding, turning), each fast
# or slow. A linear probe on raw pixels is near chance here, so the frozen probe measures what pretraining adds over a
# random encoder (docs/pretraining.md, "Does it learn?"). Same model, masks and losses as vjepa_pretrain_tiny; what
# differs: 1200 videos (840 train clips, 360 held out for the probe), 12 epochs (636 iterations), no crop or flip
# augmentation, and a slower EMA target (0.999 -> 1.0).
# About 1 min 40 s on 2 CPU cores (plus 21 s to write the 1200 videos the first time). Then:
#   python tools/probe.py experiments/vjepa_pretrain_tiny_flow.py \
#       --ablation experiments/ablations/vjepa_tiny_flow_no_causality.py
_base_ = ["vjepa_pretrain_tiny.py"]

# No crop or flip augmentation: a random resized crop rescales the clip, and with it the speeds the classes differ by.
train_dataloader = dict(dataset=dict(data_root="data/synthetic_flow", scenes="flow", num_videos=1200,
                                     pipeline=dict(crop_scale=(1.0, 1.0), flip=False)))

max_epochs = 12  # train_cfg, the cosine's end and the checkpoint interval read it (vjepa_pretrain_tiny.py)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type="CosineAnnealingLR", by_epoch=True, begin=1, end="${max_epochs}", eta_min=1e-5,
         convert_to_iter_based=True),
]
custom_hooks = [
    dict(type="JEPATargetEMAHook", momentum=0.999, end_momentum=1.0),
    dict(type="CollapseWatchHook", interval=53),
]
default_hooks = dict(logger=dict(type="LoggerHook", interval=53))
