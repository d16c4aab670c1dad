# The instruction every captioner of the disaster videos is prompted with, and the tiny LM is pretrained on (defined
# once). Models read it as prompt="${caption_prompt}", so `caption_prompt="..."` on the command line changes it.
# A captioner over a pretrained tiny LM needs the prompt that LM saw: change both (upstream.lm.overrides.caption_prompt).
caption_prompt = "Describe the disaster in this video:"
