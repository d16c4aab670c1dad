"""Tiny configs of the data plugin for the contract test: datasets over a 6-video 16x16 synthetic set, every
transform on real decoded frames (2 frames at 16x16), and video_collate on a batch of 2."""
import json
import os
import shutil
import tempfile

import numpy as np
import torch


def _root() -> str:
    """The tiny synthetic set (made on first use; generation is lock-protected and idempotent)."""
    from aegis_plugins.data.datasets import ensure_synthetic
    root = os.path.join(tempfile.gettempdir(), f"aegis_tiny_synthetic_{os.getuid()}")
    ensure_synthetic(root, num_videos=6, seed=0, size=16, frames=4)
    by_class = os.path.join(root, "by_class")
    if not os.path.isdir(by_class):  # the same videos as class folders, for VideoFolderDataset
        tmp = f"{by_class}.tmp{os.getpid()}"
        for entry in json.load(open(os.path.join(root, "captions.json"))):
            os.makedirs(os.path.join(tmp, entry["class_name"]), exist_ok=True)
            shutil.copy(os.path.join(root, entry["video_path"]), os.path.join(tmp, entry["class_name"]))
        try:
            os.rename(tmp, by_class)
        except OSError:  # another process made it first
            shutil.rmtree(tmp, ignore_errors=True)
    return root


ROOT = _root()
CSV = os.path.join(ROOT, "all.csv")
if not os.path.exists(CSV):  # the set as V-JEPA-style 'path label' lines, for DisasterCSVDataset
    with open(f"{CSV}.tmp{os.getpid()}", "w") as _f:
        _f.writelines(f"{e['video_path']} {e['label']}\n" for e in json.load(open(os.path.join(ROOT, "captions.json"))))
    os.replace(f"{CSV}.tmp{os.getpid()}", CSV)
VLM_EXPERIMENT = os.path.join(ROOT, "tiny_vlm.py")
if not os.path.exists(VLM_EXPERIMENT):  # a tiny VideoCaptioner experiment for CheckpointCaptioner (random weights)
    with open(f"{VLM_EXPERIMENT}.tmp{os.getpid()}", "w") as _f:
        _f.write("model = dict(type='VideoCaptioner', encoder=dict(type='VJEPAEncoder', arch=None, embed_dim=32, "
                 "depth=2, num_heads=2, patch_size=8, tubelet_size=2, num_frames=2, img_size=16, frozen=True), "
                 "connector=dict(type='QFormer', num_query_tokens=4, depth=2, hidden_size=32, num_heads=2, "
                 "intermediate_size=64), llm=dict(type='TinyCausalLM', vocab_size=64, hidden_size=32, num_layers=2, "
                 "num_heads=2, max_position_embeddings=64), max_new_tokens=4)\n"
                 "val_dataloader = dict(dataset=dict(pipeline=dict(type='VideoClipPipeline', video_length=2, "
                 "frame_sample_rate=1, img_size=16)))\n")
    os.replace(f"{VLM_EXPERIMENT}.tmp{os.getpid()}", VLM_EXPERIMENT)
VIDEO = os.path.join(ROOT, json.load(open(os.path.join(ROOT, "captions.json")))[0]["video_path"])
PIPE = dict(type="VideoClipPipeline", video_length=2, frame_sample_rate=1, img_size=16, backend="pyav")


def _decoded(video_length: int = 2) -> dict:
    """A results dict with 2 real decoded frames (16x16) as the spatial transforms receive it."""
    from aegis_plugins.data.transforms import Compose
    return Compose([dict(type="VideoInit"), dict(type="SampleFrames", video_length=video_length, frame_sample_rate=1),
                    dict(type="VideoDecode")])(dict(video_path=VIDEO, test_mode=True, caption="to the east"))


def _as_tensor(results: dict) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(results["imgs"])).float()


def _dataset_case(cfg: dict) -> dict:
    return dict(registry="DATASETS", cfg=cfg, run=lambda ds: torch.stack([ds[0]["inputs"], ds[1]["inputs"]]),
                expect_shape=(2, 3, 2, 16, 16))


TINY = {
    "VideoCaptionDataset": _dataset_case(dict(type="VideoCaptionDataset", ann_file=os.path.join(ROOT, "captions.json"),
                                              pipeline=PIPE)),
    "SyntheticDisasterDataset": _dataset_case(dict(type="SyntheticDisasterDataset", data_root=ROOT, split="all",
                                                   num_videos=6, size=16, frames=4, pipeline=PIPE)),
    # the VoE set generates itself on first build (1 pair per kind and 14 possible-only videos, 32x32x16: ~0.3 s)
    "PhysicsVoEDataset": _dataset_case(dict(type="PhysicsVoEDataset", split="pairs", num_pairs=1, num_train=14,
                                            data_root=os.path.join(tempfile.gettempdir(),
                                                                   f"aegis_tiny_voe_{os.getuid()}"),
                                            pipeline=PIPE)),
    "VideoFolderDataset": _dataset_case(dict(type="VideoFolderDataset", data_root=os.path.join(ROOT, "by_class"),
                                             pipeline=PIPE)),
    "DisasterCSVDataset": _dataset_case(dict(type="DisasterCSVDataset", csv_file=CSV, pipeline=PIPE,
                                             classes=("flood", "wildfire", "smoke", "earthquake", "landslide",
                                                      "calm"))),
    "VideoInit": dict(registry="TRANSFORMS", cfg=dict(type="VideoInit", backend="pyav"),
                      run=lambda t: t(dict(video_path=VIDEO)), expect=lambda r: r["total_frames"] == 4),
    "SampleFrames": dict(registry="TRANSFORMS", cfg=dict(type="SampleFrames", video_length=2, frame_sample_rate=1),
                         run=lambda t: torch.from_numpy(t(dict(total_frames=4))["frame_inds"]), expect_shape=(2,),
                         expect=lambda inds: bool(((inds >= 0) & (inds < 4)).all())),
    "VideoDecode": dict(registry="TRANSFORMS", cfg=dict(type="VideoDecode"),
                        run=lambda t: _as_tensor(_decoded()), expect_shape=(2, 16, 16, 3)),
    "ResizeShorterSide": dict(registry="TRANSFORMS", cfg=dict(type="ResizeShorterSide", size=8),
                              run=lambda t: _as_tensor(t(_decoded())), expect_shape=(2, 8, 8, 3)),
    "RandomResizedCrop": dict(registry="TRANSFORMS", cfg=dict(type="RandomResizedCrop", size=8),
                              run=lambda t: _as_tensor(t(_decoded())), expect_shape=(2, 8, 8, 3)),
    "CenterCrop": dict(registry="TRANSFORMS", cfg=dict(type="CenterCrop", size=12),
                       run=lambda t: _as_tensor(t(_decoded())), expect_shape=(2, 12, 12, 3)),
    "RandomHorizontalFlip": dict(registry="TRANSFORMS", cfg=dict(type="RandomHorizontalFlip", p=1.0),
                                 run=lambda t: _as_tensor(t(_decoded())), expect_shape=(2, 16, 16, 3)),
    "ToTensorVideo": dict(registry="TRANSFORMS", cfg=dict(type="ToTensorVideo"),
                          run=lambda t: t(_decoded())["inputs"], expect_shape=(3, 2, 16, 16)),
    "NormalizeVideo": dict(registry="TRANSFORMS", cfg=dict(type="NormalizeVideo"),
                           run=lambda t: t(dict(inputs=torch.full((3, 2, 16, 16), 128, dtype=torch.uint8)))["inputs"],
                           expect_shape=(3, 2, 16, 16)),
    "VideoClipPipeline": dict(registry="TRANSFORMS", cfg=PIPE,
                              run=lambda t: t(dict(video_path=VIDEO))["inputs"], expect_shape=(3, 2, 16, 16)),
    "OpenAIChatCaptioner": dict(  # no request: the body it would send (1 text part + 2 frames as JPEG)
        registry="CAPTIONERS", cfg=dict(type="OpenAIChatCaptioner", base_url="http://127.0.0.1:9/v1", num_frames=2),
        run=lambda c: c.request_body(_decoded()["imgs"]),
        expect=lambda body: [part["type"] for part in body["messages"][-1]["content"]] == ["text", "image_url",
                                                                                             "image_url"]),
    "CheckpointCaptioner": dict(
        registry="CAPTIONERS", cfg=dict(type="CheckpointCaptioner", config=VLM_EXPERIMENT, batch_size=2),
        run=lambda c: c.caption_many([VIDEO, VIDEO]),
        expect=lambda captions: len(captions) == 2 and all(isinstance(t, str) for t in captions)),
    # build_component returns a registered function with the config's arguments bound (functools.partial)
    "video_collate": dict(registry="FUNCTIONS", cfg=dict(type="video_collate"),
                          run=lambda fn: fn([dict(inputs=torch.zeros(3, 2, 16, 16), data_samples=dict(caption="a")),
                                             dict(inputs=torch.ones(3, 2, 16, 16), data_samples=dict(caption="b"))]),
                          expect_shape=(2, 3, 2, 16, 16)),
}

# --- recorded env episodes for world models (issue #16; owned by the world-model helper) --------------------------
# 12 random-action episodes of an 8-step 16x16 DisasterRescue map, recorded on first build (well under a second)
TINY["EnvTransitionDataset"] = dict(
    registry="DATASETS",
    cfg=dict(type="EnvTransitionDataset", env=dict(type="DisasterRescueEnv", preset="easy", grid_size=6, max_steps=8,
                                                   obs_size=16),
             data_root=os.path.join(tempfile.gettempdir(), f"aegis_tiny_env_transitions_{os.getuid()}"),
             episodes=12, val_episodes=2, frame_stack=2, rollout_steps=2),
    run=lambda ds: torch.stack([ds[0]["inputs"], ds[1]["inputs"]]).float(),
    expect_shape=(2, 4, 16, 16, 3),
)
