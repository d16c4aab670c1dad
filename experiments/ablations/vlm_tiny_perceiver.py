# Ablation of vlm_tiny_cpu: a Flamingo-style Perceiver resampler instead of the Q-Former (same 8 queries, 2 layers,
# width 128); everything else, including the frozen encoder and LM, is unchanged.
_base_ = ["../vlm_tiny_cpu.py"]

model = dict(connector=dict(_delete_=True, type="PerceiverResampler", num_query_tokens="${num_query_tokens}",
                            depth="${qformer_depth}", hidden_size=128, num_heads=4, intermediate_size=256,
                            max_temporal_positions=8))  # _delete_: swap the type; the same knobs drive its size
