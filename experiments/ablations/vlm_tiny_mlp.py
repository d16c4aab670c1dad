# Ablation of vlm_tiny_cpu: a LLaVA-style MLP projector with temporal pooling instead of the Q-Former: the 4x4x4
# token grid is pooled to 2 time steps x 2x2 positions = 8 prefix tokens, then a 2-layer MLP maps them to the LM width.
_base_ = ["../vlm_tiny_cpu.py"]

model = dict(connector=dict(_delete_=True, type="MLPProjector", temporal_tokens=2, spatial_grid=(2, 2), depth=2,
                            hidden_size=128))  # _delete_: swap the type
