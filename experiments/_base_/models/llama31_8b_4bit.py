# Llama 3.1 8B Instruct, 4-bit NF4 (bitsandbytes, double quantisation, fp16 compute), frozen, gradient checkpointing
# (the gradient still flows through it to the soft prefix): the T4 guide's LLM. Use as `llm={{_base_.llama31_8b_4bit}}`.
# Needs the weights (a local folder, or the hub id already in the Hugging Face cache; nothing is downloaded unless
# model.llm.allow_download=True), bitsandbytes and a CUDA GPU. Without them the build stops at once saying which.
llama31_8b_4bit = dict(type="HFCausalLM", name_or_path="meta-llama/Llama-3.1-8B-Instruct", load_in_4bit=True,
                       compute_dtype="float16", dtype="float16", frozen=True, gradient_checkpointing=True)
