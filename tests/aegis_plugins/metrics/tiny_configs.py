"""Tiny configs of the metrics plugin's registered names, for tests/aegis_plugins/test_contract.py (no tests here)."""
import torch

_PREDICTIONS = [
    dict(pred_caption="Water level rising rapidly", caption="Water level rising rapidly",
         captions=["Water level rising rapidly", "The flood water is rising rapidly"], class_name="flood",
         speed="fast"),
    dict(pred_caption="Fire spreading slowly to the west", caption="Fire spreading rapidly to the east",
         captions=["Fire spreading rapidly to the east"], class_name="wildfire", speed="fast", direction="east"),
]


def _evaluate(metric):
    metric.process(None, _PREDICTIONS)
    scores = metric.evaluate(len(_PREDICTIONS))
    return torch.tensor(sorted(scores.values()), dtype=torch.float32)


TINY = {
    "CaptionMetric": dict(registry="METRICS", cfg=dict(type="CaptionMetric"), run=_evaluate, expect_shape=(3,)),
    "DisasterAccuracyMetric": dict(registry="METRICS", cfg=dict(type="DisasterAccuracyMetric"), run=_evaluate,
                                   expect_shape=(3,)),
}
