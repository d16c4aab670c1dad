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


# two VoE pairs of one kind: the impossible video is the more surprising one in the first pair only
_VOE = [dict(class_name="gravity", pair=pair, possible=possible, surprise_max=value, surprise_mean=value / 2)
        for pair, possible, value in ((0, False, 0.9), (0, True, 0.4), (1, False, 0.3), (1, True, 0.5))]


def _evaluate_voe(metric):
    metric.process(None, _VOE)
    scores = metric.evaluate(len(_VOE))
    return torch.tensor([scores["voe/gravity/pairwise_acc"], scores["voe/all/auroc"]], dtype=torch.float32)


TINY = {
    "CaptionMetric": dict(registry="METRICS", cfg=dict(type="CaptionMetric"), run=_evaluate, expect_shape=(3,)),
    "DisasterAccuracyMetric": dict(registry="METRICS", cfg=dict(type="DisasterAccuracyMetric"), run=_evaluate,
                                   expect_shape=(3,)),
    "VoEPairwiseMetric": dict(registry="METRICS", cfg=dict(type="VoEPairwiseMetric", num_bootstrap=50),
                              run=_evaluate_voe, expect_shape=(2,),
                              expect=lambda out: bool(torch.allclose(out, torch.tensor([0.5, 0.5])))),
}
