# Phase 2, the training guide's T4 recipe (one 16 GB T4): frozen V-JEPA ViT-L/16 -> Q-Former (32 queries, 6 layers,
# hidden 768, 12 heads, intermediate 3072, gradient checkpointing) -> Llama 3.1 8B Instruct in 4 bit, frozen.
# Batch 4 x gradient accumulation 4 (effective 16), fp16 AMP, AdamW lr 1e-4 / weight decay 0.05 / betas (0.9, 0.95),
# 500 warm-up steps then cosine to 1e-6, gradient clipping 1.0, 10 epochs, a checkpoint every epoch keeping 3.
#   python tools/run.py experiments/vlm_t4.py --cfg-options data.video_caption_pairs=path/to/pairs.json
# Needs: the Llama weights (model.llm.name_or_path: a local folder or a cached hub id), the V-JEPA ViT-L checkpoint
# (model.encoder_checkpoint), bitsandbytes and a CUDA GPU; without one of them the build stops at once naming it.
# On CPU, experiments/vlm_t4_cpu_dryrun.py swaps in TinyCausalLM and builds and steps this recipe (--dry-run).
# Memory estimate for a 16 GB T4: docs/vlm_memory.md (tools/estimate_vlm_memory.py, from the real model definitions).
_base_ = ["_base_/default_runtime.py", "_base_/models/llama31_8b_4bit.py", "_base_/models/qformer_guide.py",
          "_base_/models/caption_prompt.py"]

data = dict(
    video_caption_pairs="data/video_caption_pairs.json",  # the guide's --data: [{"video_path", "caption"}, ...]
    val_pairs="data/video_caption_pairs_val.json",
)
clip = dict(type="VideoClipPipeline", video_length=16, frame_sample_rate=2, img_size=224)  # the guide's defaults

model = dict(
    type="VideoCaptioner",
    encoder=dict(type="VJEPAEncoder", arch="vit_large", patch_size=16, tubelet_size=2, num_frames=16, img_size=224,
                 uniform_power=True, checkpoint_key="target_encoder", frozen=True),
    encoder_checkpoint="checkpoints/vjepa/vitl16.pth.tar",  # official V-JEPA ViT-L/16 or a phase-1 work dir
    connector={{_base_.qformer_guide}},
    llm={{_base_.llama31_8b_4bit}},
    prompt="${caption_prompt}",
    max_caption_tokens=48,
    max_new_tokens=48,
    num_beams=3,
)

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="VideoCaptionDataset", ann_file="${data.video_caption_pairs}", pipeline=clip),
)
val_dataloader = dict(
    batch_size=4,
    num_workers=4,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="aegis.video_collate"),
    dataset=dict(type="VideoCaptionDataset", ann_file="${data.val_pairs}", pipeline=clip, test_mode=True),
)
val_evaluator = [dict(type="CaptionMetric"), dict(type="DisasterAccuracyMetric")]
val_cfg = dict()

learning_rate = 1e-4  # the guide's name; a sweep sets it with --learning_rate=5e-5 (W&B's ${args})
max_epochs = 10  # the loop and the cosine's end read it: `tools/run.py ... max_epochs=5`
accumulation = 4
train_cfg = dict(by_epoch=True, max_epochs="${max_epochs}", val_interval=1)
optim_wrapper = dict(
    type="AmpOptimWrapper",
    dtype="float16",
    accumulative_counts=accumulation,
    clip_grad=dict(max_norm=1.0),
    optimizer=dict(type="AdamW", lr="${learning_rate}", weight_decay=0.05, betas=(0.9, 0.95)),
)
# Schedulers step once per iteration; 500 optimiser steps of warm-up = 500 x 4 accumulated iterations.
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=500 * accumulation),
    dict(type="CosineAnnealingLR", eta_min=1e-6, by_epoch=True, begin=0, end="${max_epochs}",
         convert_to_iter_based=True),
]
custom_hooks = [dict(type="CaptionSamplesHook", num_samples=4, before_training=False)]
default_hooks = dict(checkpoint=dict(type="CheckpointHook", interval=1, by_epoch=True, max_keep_ckpts=3,
                                     save_last=True))
env_cfg = dict(cudnn_benchmark=True)
