# Intuitive physics at tiny size: vjepa_pretrain_tiny pretrained ONLY on physically possible videos of the VoE scenes
# (aegis_plugins/data/synthetic_voe.py: balls that fall, bounce, roll and vanish behind nothing, water on slopes, fire
# fronts), and scored during and after training on matched possible/impossible pairs it never saw, by surprise
# (Garrido et al., 2025): the validation metric VoEPairwiseMetric gives pairwise accuracy and AUROC per violation kind.
# What differs from vjepa_pretrain_tiny: the data (16-frame videos at 32 px; clips of 8 consecutive frames), no random
# crop (a crop rescales speeds and accelerations; flips keep gravity), and a third mask group that hides the last
# token step (FutureMaskGenerator), so the predictor learns to extrapolate the past, as surprise asks of it.
#   python tools/run.py experiments/vjepa_pretrain_tiny_physics.py
#   python tools/eval_physics.py experiments/vjepa_pretrain_tiny_physics.py   (beside random init and pixels)
_base_ = ["vjepa_pretrain_tiny.py"]

data_root = "data/synthetic_voe"
voe = dict(num_pairs=20, num_train=700, seed=0, size=32, frames=16)  # generation settings (data_root must match)
clip = dict(video_length=8, frame_sample_rate=1, img_size=32)
loader = dict(batch_size=16, num_workers=1)


def _voe_dataset(split: str, video_length, flip: bool = False) -> dict:
    return dict(type="PhysicsVoEDataset", data_root="${data_root}", split=split,
                num_pairs="${voe.num_pairs}", num_train="${voe.num_train}", seed="${voe.seed}", size="${voe.size}",
                frames="${voe.frames}",
                pipeline=dict(type="VideoClipPipeline", video_length=video_length, frame_sample_rate=1,
                              img_size="${clip.img_size}", crop_scale=(1.0, 1.0), flip=flip))


train_dataloader = dict(dataset=dict(_voe_dataset("train", "${clip.video_length}", flip=True), _delete_=True))
# Validation: every pair, whole videos (longer than the model's clip, so the model returns surprise curves).
val_dataloader = dict(
    _delete_=True, batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=_voe_dataset("pairs", "${voe.frames}"),
)
val_cfg = dict(_delete_=True, type="ValLoop")
val_evaluator = dict(_delete_=True, type="VoEPairwiseMetric", score="max")

model = dict(
    mask_generators=[
        dict(type="MultiBlock3DMaskGenerator", num_blocks=8, mask_ratio="${mask_ratio}"),  # short range
        dict(type="MultiBlock3DMaskGenerator", num_blocks=2, mask_ratio="${mask_ratio}"),  # long range
        dict(type="FutureMaskGenerator", future_steps=1),  # the last token step from the three before it
    ],
    surprise_future_steps=1,
    surprise_stride=1,
)

max_epochs = 40
cooldown_epoch = 20  # epochs 21-40: the predictor cool-down (PredictorCooldownHook)
train_cfg = dict(by_epoch=True, max_epochs="${max_epochs}", val_interval="${max_epochs}")  # VoE scores at the end
# one cosine cycle for pretraining, a second, restarted one for the cool-down (the periods are computed when the file
# loads: an override of max_epochs or cooldown_epoch needs an edit of this file, or the schedule fails to build)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type="CosineRestartLR", by_epoch=True, begin=1, end="${max_epochs}", eta_min=1e-5,
         periods=[cooldown_epoch - 1, max_epochs - cooldown_epoch], restart_weights=[1.0, 1.0],
         convert_to_iter_based=True),
]
custom_hooks = [
    dict(type="JEPATargetEMAHook", momentum=0.996, end_momentum=1.0),
    dict(type="CollapseWatchHook", interval=50),
    # then only the predictor learns, on the future-mask group: surprise needs a good forecaster (docs/physics.md)
    dict(type="PredictorCooldownHook", start_epoch="${cooldown_epoch}", mask_group_weights=[0, 0, 1]),
]
default_hooks = dict(logger=dict(type="LoggerHook", interval=25))
