# The tiny Llama-architecture LM of the CPU path. Its text pretraining (lm_pretrain_tiny) and the captioner
# (vlm_tiny_cpu) both inherit this fragment, so the exported weights always fit the captioner's LLM, and both
# prompt with the same caption_prompt.
_base_ = ["caption_prompt.py"]

model = dict(
    llm=dict(type="TinyCausalLM", vocab_size=256, hidden_size=128, num_layers=2, num_heads=4, intermediate_size=512,
             max_position_embeddings=128),
)
