# BLIP-2 stage 1 on the embedded default: train the Q-Former on the frozen phase-1 V-JEPA encoder with the three
# video-text objectives (contrastive, matching with hard negatives, grounded captioning through its own text path),
# before any LLM is attached. Synthetic disaster videos, 2 CPU cores: 270 steps (30 epochs of 9), 0.15-0.4 s a step on
# the idle 2-core machine (about 3.5 minutes measured, validation included; 5-10 s a step when ~8 jobs share it).
# Measured with a random frozen encoder: val captions from the Q-Former's own text path reach BLEU-4 0.85,
# type accuracy 1.0, dynamics 0.70; vtc 2.85 -> 0.85, vtg 5.69 -> 1.10, vtm 0.74 -> 0.61 (docs/connectors.md).
# Stage 2 then starts from this Q-Former: experiments/vlm_tiny_cpu_from_stage1.py (vlm_tiny_cpu skips stage 1).
# Ablate a term by editing the weighted list, e.g. --cfg-options "model.losses.1.loss_weight=0".
# The frozen encoder is an `upstream` run (aegis/upstream.py): `--with-upstream` builds it first when it is missing.
_base_ = ["_base_/default_runtime.py", "_base_/datasets/synthetic_disaster.py", "_base_/models/vjepa_tiny_encoder.py"]

upstream = dict(encoder=dict(experiment="experiments/vjepa_pretrain_tiny.py", overrides=dict()))  # phase 1

model = dict(
    type="QFormerPretrainer",
    # the phase-1 tiny encoder, its EMA target weights, frozen
    encoder=dict(_base_.vjepa_tiny_encoder, checkpoint_key="target_encoder", frozen=True),
    encoder_checkpoint="${upstream.encoder.work_dir}",  # its newest checkpoint
    # the same Q-Former as vlm_tiny_cpu's connector, plus its text path (vocabulary size injected)
    # (initializer_range ~ 1/sqrt(128): BERT's 0.02 leaves a narrow Q-Former's attention flat for many steps)
    connector=dict(type="QFormer", num_query_tokens=8, depth=2, hidden_size=128, num_heads=4, intermediate_size=256,
                   temporal_pos_embed=True, max_temporal_positions=8, initializer_range=0.1),
    losses=[
        dict(type="VideoTextContrastiveLoss", loss_weight=1.0),
        dict(type="VideoTextMatchingLoss", loss_weight=1.0, hard_negatives=True),
        dict(type="GroundedCaptioningLoss", loss_weight=1.0, label_smoothing=0.1),
    ],
    embed_dim=64,
    # the Q-Former's text path reads a caption BPE trained on the training captions (as the tiny LM's tokenizer is)
    corpus_file="data/synthetic_disaster/train.json",
    tokenizer_vocab_size=256,
    max_text_length=24,
    max_new_tokens=22,
)

loader = dict(batch_size=16, num_workers=0, persistent_workers=False)  # train, val and test
clip = dict(video_length=8, frame_sample_rate=4, img_size=32)  # as in phase 1
val_evaluator = [dict(type="CaptionMetric"), dict(type="DisasterAccuracyMetric")]  # of the Q-Former's own captions
test_evaluator = val_evaluator

max_epochs = 30  # 9 iterations each; the loop and the cosine's end read it: `tools/run.py ... max_epochs=10`
train_cfg = dict(by_epoch=True, max_epochs="${max_epochs}", val_interval=10)
val_cfg = dict()
test_cfg = dict()
# The contrastive gradients are ~1/temperature larger than the others: a clip at 1.0 would starve matching and
# captioning, so the clip only guards against spikes.
optim_wrapper = dict(optimizer=dict(type="AdamW", lr=2e-3, weight_decay=0.05, betas=(0.9, 0.98)),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=False, begin=0, end=20),
    dict(type="CosineAnnealingLR", eta_min=1e-5, by_epoch=True, begin=0, end="${max_epochs}",
         convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(type="CheckpointHook", interval=10, max_keep_ckpts=2, save_last=True))
