# vjepa_pretrain_tiny on the motion-only synthetic scenes (aegis_plugins/data/synthetic_motion.py): six classes that look
# alike (the same texture distribution in every class) and differ only in how a region moves, each fast or slow. On
# the disaster scenes a linear probe on raw pixels already names the type; here it cannot, so the probe measures
# what the encoder adds. Then: python tools/probe.py experiments/vjepa_pretrain_tiny_motion.py --ablation none
_base_ = ["vjepa_pretrain_tiny.py"]

train_dataloader = dict(dataset=dict(data_root="data/synthetic_motion", scenes="motion"))
