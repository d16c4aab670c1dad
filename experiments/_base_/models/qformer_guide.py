# The training guide's Q-Former: 32 queries, 6 layers, hidden 768, 12 heads, intermediate 3072, gradient
# checkpointing. input_dim/output_dim are injected from the encoder and the LLM. Use as
# `connector={{_base_.qformer_guide}}`. The guide's swept knobs are top-level keys (its sweep_config names):
# `tools/run.py experiments/vlm_t4.py --num_query_tokens=48 --qformer_depth=4`.
num_query_tokens = 32
qformer_depth = 6
qformer_guide = dict(type="QFormer", num_query_tokens="${num_query_tokens}", depth="${qformer_depth}",
                     hidden_size=768, num_heads=12, intermediate_size=3072, gradient_checkpointing=True)
