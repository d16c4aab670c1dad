# Stage 2 after BLIP-2 stage 1: vlm_tiny_cpu with its Q-Former initialised from experiments/vlm_stage1_tiny_cpu.py
# (the query path; the text path stays behind and the output projection to the LLM is new, as in BLIP-2).
# vlm_tiny_cpu itself is the ablation that skips stage 1.
_base_ = ["vlm_tiny_cpu.py"]

# Stage 1 is a third upstream run beside vlm_tiny_cpu's encoder and LM (it has the same encoder as its own upstream,
# built once for both); `--with-upstream` builds whichever is missing first.
upstream = dict(connector=dict(experiment="experiments/vlm_stage1_tiny_cpu.py", overrides=dict()))
model = dict(connector=dict(checkpoint="${upstream.connector.work_dir}"))  # its newest checkpoint
