# Llama 3.1 8B Instruct, 4-bit NF4 (bitsandbytes, double quantisation, fp16 compute), frozen: the T4 guide's LLM.
# Needs the weights (a local folder, or the hub id already in the Hugging Face cache; nothing is downloaded unless
# model.llm.allow_download=True), bitsandbytes and a CUDA GPU. Without them the build stops at once saying which.
model = dict(
    llm=dict(type="HFCausalLM", name_or_path="meta-llama/Llama-3.1-8B-Instruct", load_in_4bit=True,
             compute_dtype="float16", dtype="float16", frozen=True),
)
