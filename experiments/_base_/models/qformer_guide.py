# The training guide's Q-Former: 32 queries, 6 layers, hidden 768, 12 heads, intermediate 3072, gradient
# checkpointing. input_dim/output_dim are injected from the encoder and the LLM. Use as
# `connector={{_base_.qformer_guide}}`.
qformer_guide = dict(type="QFormer", num_query_tokens=32, depth=6, hidden_size=768, num_heads=12,
                     intermediate_size=3072, gradient_checkpointing=True)
