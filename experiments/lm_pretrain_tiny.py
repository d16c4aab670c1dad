# Phase 2, step 1 of the CPU path: train the tiny Llama-architecture LM on caption text alone (the training split's
# captions of the synthetic disaster set), then export it to <work_dir>/lm/ (model.pth, tokenizer.json, config.json),
# where vlm_tiny_cpu loads it frozen (its upstream.lm), as vlm_t4 does with Llama 3.1 8B.
# Three quarters of the sequences carry another caption of the same video as context before the prompt, so the LM
# learns to describe what its context describes; in vlm_tiny_cpu the connector's soft prefix takes that place.
# 1260 steps: 10.5 minutes measured on the shared 2-core dev machine (load ~9, 1 thread); less on an idle one.
# The synthetic set is written by phase 1 (or tools/make_synthetic_data.py).
_base_ = ["_base_/default_runtime.py", "_base_/models/tiny_lm.py"]

data = dict(video_caption_pairs="data/synthetic_disaster/train.json")  # the guide's key: the caption corpus

model = dict(
    type="CaptionLMPretrainer",
    llm=dict(frozen=False, corpus_file="${data.video_caption_pairs}"),  # the tokenizer is trained on the same corpus
    prompt="${caption_prompt}",  # _base_/models/caption_prompt.py, through tiny_lm.py
    context_prob=0.75,
)

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="aegis.caption_collate"),
    dataset=dict(type="CaptionTextDataset", ann_file="${data.video_caption_pairs}"),
)
max_epochs = 70  # 17 iterations each; the loop and the cosine's end read it: `tools/run.py ... max_epochs=20`
train_cfg = dict(by_epoch=True, max_epochs="${max_epochs}")
optim_wrapper = dict(optimizer=dict(type="AdamW", lr=3e-3, weight_decay=0.01, betas=(0.9, 0.98)),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=False, begin=0, end=120),
    dict(type="CosineAnnealingLR", eta_min=1e-5, by_epoch=True, begin=0, end="${max_epochs}",
         convert_to_iter_based=True),
]
custom_hooks = [dict(type="TinyLMExportHook", folder="lm")]
default_hooks = dict(logger=dict(type="LoggerHook", interval=10),
                     checkpoint=dict(type="CheckpointHook", interval=10, max_keep_ckpts=1, save_last=True))
