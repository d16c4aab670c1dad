# Data fragment: train/val/test dataloaders over the synthetic disaster videos (generated in data_root on first use).
# Clips are 16 frames every 2 (the training guide's video_length / frame_sample_rate), 64x64, in (B, C, T, H, W).
# Each pipeline is one VideoClipPipeline dict, so a child overrides single values by merging, e.g.
#   train_dataloader = dict(dataset=dict(pipeline=dict(video_length=8, img_size=32)))
#   val_dataloader = dict(dataset=dict(split="test"))
# or from the command line: --cfg-options train_dataloader.dataset.pipeline.video_length=8
# The explicit form, a list of transforms, is in docs/data.md.
data_root = "data/synthetic_disaster"
synthetic = dict(num_videos=200, seed=0, size=64, frames=32)  # generation settings (data_root must match them)
# crops keep >= 60% of the frame: the small moving car/bird of calm scenes must stay in view

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    # mmengine resolves a collate_fn type in its root registry, which reaches aegis's FUNCTIONS by scope prefix
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="SyntheticDisasterDataset", data_root=data_root, split="train", **synthetic,
                 pipeline=dict(type="VideoClipPipeline", video_length=16, frame_sample_rate=2, img_size=64,
                               crop_scale=(0.6, 1.0), backend="auto")),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="SyntheticDisasterDataset", data_root=data_root, split="val", **synthetic,
                 pipeline=dict(type="VideoClipPipeline", video_length=16, frame_sample_rate=2, img_size=64,
                               backend="auto")),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="SyntheticDisasterDataset", data_root=data_root, split="test", **synthetic,
                 pipeline=dict(type="VideoClipPipeline", video_length=16, frame_sample_rate=2, img_size=64,
                               backend="auto")),
)
