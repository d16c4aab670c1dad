# The vlm_t4 recipe built and stepped on a CPU-only machine, to check it before renting a GPU:
#   python tools/run.py experiments/vlm_t4_cpu_dryrun.py --dry-run
# Everything of vlm_t4 stays (the guide's Q-Former, AdamW, schedule, accumulation, clipping, hooks) except what
# cannot run here: TinyCausalLM (random, frozen) instead of 4-bit Llama, a small random V-JEPA encoder instead of
# ViT-L, fp32 instead of fp16 AMP, and the synthetic disaster clips instead of data.video_caption_pairs.
_base_ = ["vlm_t4.py", "_base_/models/vjepa_tiny_encoder.py"]

data = dict(video_caption_pairs="data/synthetic_disaster/captions.json", val_pairs=None)
clip = dict(type="VideoClipPipeline", video_length=8, frame_sample_rate=4, img_size=32)

model = dict(
    encoder=dict(_base_.vjepa_tiny_encoder, _delete_=True, frozen=True),  # _delete_: drop ViT-L's arch and sizes
    encoder_checkpoint=None,
    llm=dict(_delete_=True, type="TinyCausalLM", frozen=True),  # _delete_: drop the HFCausalLM-only arguments
    num_beams=1,
    max_new_tokens=8,
)
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, type="SyntheticDisasterDataset", data_root="data/synthetic_disaster", split="train",
                 pipeline=clip),
)
val_dataloader = dict(
    num_workers=0,
    dataset=dict(_delete_=True, type="SyntheticDisasterDataset", data_root="data/synthetic_disaster", split="val",
                 pipeline=clip),
)
optim_wrapper = dict(  # _delete_: the same optimiser, accumulation and clipping, without fp16 AMP (CUDA only)
    _delete_=True, type="OptimWrapper", accumulative_counts=4, clip_grad=dict(max_norm=1.0),
    optimizer=dict(type="AdamW", lr="${learning_rate}", weight_decay=0.05, betas=(0.9, 0.95)))
env_cfg = dict(cudnn_benchmark=False)
