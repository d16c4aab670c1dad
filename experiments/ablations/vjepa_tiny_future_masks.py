# Ablation: vjepa_pretrain_tiny with a future-prediction mask group in place of the long-range blocks. Clips are 16
# frames every 2nd (T' = 8 token steps instead of 4, so there is a past to extrapolate from); the second mask group
# hides the last 2-4 token steps entirely (FutureMaskGenerator), so the predictor must extrapolate the latent
# trajectory, and the causality loss acts on whole predicted trajectories. About 80 s on 2 CPU cores.
# Probe it on its own:  python tools/probe.py experiments/ablations/vjepa_tiny_future_masks.py --ablation none
_base_ = ["../vjepa_pretrain_tiny.py"]

clip = dict(video_length=16, frame_sample_rate=2)
model = dict(
    encoder=dict(num_frames=16),
    mask_generators=[
        dict(type="MultiBlock3DMaskGenerator", num_blocks=8, mask_ratio="${mask_ratio}"),  # short range, all times
        dict(type="FutureMaskGenerator", future_steps=(2, 4)),  # the last 2-4 of 8 token steps, from the past
    ],
)
