# Data fragment: train/val/test dataloaders over the synthetic disaster videos (generated in data_root on first use).
# Clips are 16 frames every 2 (the training guide's video_length / frame_sample_rate), 64x64, in (B, C, T, H, W).
# What the three loaders share is written once, as top-level keys they read through ${...}; an experiment (or the
# command line) sets a key once and train, val and test all follow:
#   loader = dict(batch_size=16, num_workers=0, persistent_workers=False)    clip = dict(video_length=8, img_size=32)
#   --cfg-options loader.batch_size=4 clip.img_size=32
# A child still overrides one loader's single values by merging, e.g.
#   train_dataloader = dict(dataset=dict(pipeline=dict(crop_scale=(0.5, 1.0))))
#   val_dataloader = dict(dataset=dict(split="test"))
# The explicit form of a pipeline, a list of transforms, is in docs/data.md.
data_root = "data/synthetic_disaster"
synthetic = dict(num_videos=200, seed=0, size=64, frames=32)  # generation settings (data_root must match them)
loader = dict(batch_size=8, num_workers=2, persistent_workers=True)  # persistent_workers=False when num_workers=0
clip = dict(video_length=16, frame_sample_rate=2, img_size=64)  # VideoClipPipeline's sizes


def _dataloader(split: str, shuffle: bool, **pipeline) -> dict:
    """One split's dataloader; ``pipeline``: VideoClipPipeline arguments of this split only (a function in a config
    file is dropped from the loaded config, like the file's imports)."""
    return dict(
        batch_size="${loader.batch_size}",
        num_workers="${loader.num_workers}",
        persistent_workers="${loader.persistent_workers}",
        sampler=dict(type="DefaultSampler", shuffle=shuffle),
        # mmengine resolves a collate_fn type in its root registry, which reaches aegis's FUNCTIONS by scope prefix
        collate_fn=dict(type="aegis.video_collate"),
        dataset=dict(type="SyntheticDisasterDataset", data_root="${data_root}", split=split,
                     num_videos="${synthetic.num_videos}", seed="${synthetic.seed}", size="${synthetic.size}",
                     frames="${synthetic.frames}",
                     pipeline=dict(type="VideoClipPipeline", video_length="${clip.video_length}",
                                   frame_sample_rate="${clip.frame_sample_rate}", img_size="${clip.img_size}",
                                   **pipeline, backend="auto")),
    )


# crops keep >= 60% of the frame: the small moving car/bird of calm scenes must stay in view
train_dataloader = _dataloader("train", shuffle=True, crop_scale=(0.6, 1.0))
val_dataloader = _dataloader("val", shuffle=False)
test_dataloader = _dataloader("test", shuffle=False)
