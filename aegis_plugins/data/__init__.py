"""Built-in AEGIS plugin: video data (decoding, sampling, transforms, datasets, collation, captioners, `aegis data`)."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register the datasets, transforms, the ``video_collate`` function and the captioners."""
    from . import transforms as t
    from .captioners import CheckpointCaptioner, OpenAIChatCaptioner
    from .collate import video_collate
    from .datasets import PhysicsVoEDataset, SyntheticDisasterDataset, VideoCaptionDataset, VideoFolderDataset
    from .disaster_csv import DisasterCSVDataset

    for cls in (VideoCaptionDataset, VideoFolderDataset, SyntheticDisasterDataset, PhysicsVoEDataset,
                DisasterCSVDataset):
        registries.DATASETS.register_module(module=cls)
    for cls in (t.VideoInit, t.SampleFrames, t.VideoDecode, t.ResizeShorterSide, t.RandomResizedCrop, t.CenterCrop,
                t.RandomHorizontalFlip, t.ToTensorVideo, t.NormalizeVideo, t.VideoClipPipeline):
        registries.TRANSFORMS.register_module(module=cls)
    registries.FUNCTIONS.register_module(module=video_collate)

    from .env_transitions import EnvTransitionDataset  # recorded env episodes for world models (issue #16)

    registries.DATASETS.register_module(module=EnvTransitionDataset)
    registries.CAPTIONERS.register_module(module=OpenAIChatCaptioner)
    registries.CAPTIONERS.register_module(module=CheckpointCaptioner)


@hookimpl
def aegis_add_commands(subparsers):
    """Add ``aegis data check FILE.json``."""
    from .check import add_commands

    add_commands(subparsers)
