"""A linear classifier over the pooled tokens of any registered encoder."""
import torch
from mmengine.model import BaseModel

from aegis.annotations import Component
from aegis.build import build_component
from aegis.contracts import VideoEncoder


class ClipClassifier(BaseModel):
    """Classify clips (B, C, T, H, W) into `num_classes` from the mean of an encoder's (B, N, D) tokens.

    Loss is cross-entropy against `data_samples[i]["label"]`; predict returns dicts with `pred_label` and `label`.
    """

    def __init__(self, encoder: Component[VideoEncoder], num_classes: int = 6) -> None:
        super().__init__()
        self.encoder = build_component(encoder, VideoEncoder, "model.encoder")
        self.head = torch.nn.Linear(self.encoder.embed_dim, num_classes)

    def forward(self, inputs, data_samples=None, mode: str = "tensor"):
        features = self.encoder(inputs)
        logits = self.head(features.mean(1) if features.dim() == 3 else features)  # (B, num_classes)
        if mode == "tensor":
            return logits
        labels = torch.as_tensor([s["label"] for s in data_samples], device=logits.device)
        if mode == "loss":
            return dict(loss=torch.nn.functional.cross_entropy(logits, labels))
        return [dict(pred_label=int(p), label=int(y)) for p, y in zip(logits.argmax(-1), labels)]
