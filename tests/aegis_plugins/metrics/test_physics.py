"""VoE scores: pairwise accuracy, AUROC and bootstrap intervals on hand-made surprise scores."""
import numpy as np
import pytest

from aegis.errors import DataError
from aegis_plugins.metrics.physics import VoEPairwiseMetric, auroc, pairwise_accuracy, voe_report


def _records(kind, impossible, possible):
    out = []
    for pair, (imp, pos) in enumerate(zip(impossible, possible)):
        out += [dict(class_name=kind, pair=pair, possible=False, surprise_max=imp, surprise_mean=imp / 2),
                dict(class_name=kind, pair=pair, possible=True, surprise_max=pos, surprise_mean=pos / 2)]
    return out


def test_pairwise_accuracy_counts_pairs_and_half_ties():
    assert pairwise_accuracy([2.0, 1.0, 3.0, 1.0], [1.0, 2.0, 3.0, 0.0]) == pytest.approx((1 + 0 + 0.5 + 1) / 4)


def test_auroc_is_the_probability_a_positive_outranks_a_negative():
    # positives 3, 1 vs negatives 2, 0: (3>2, 3>0, 1>0) of 4 comparisons
    assert auroc([3.0, 1.0], [2.0, 0.0]) == pytest.approx(0.75)
    assert auroc([1.0], [1.0]) == 0.5


def test_report_per_kind_and_overall_with_intervals():
    rng = np.random.default_rng(0)
    records = _records("gravity", rng.normal(2, 0.1, 40), rng.normal(1, 0.1, 40))  # always separated
    records += _records("inertia", rng.normal(1, 1, 40), rng.normal(1, 1, 40))  # chance
    report = voe_report(records, num_bootstrap=300)
    assert report["gravity/pairwise_acc"] == 1.0 and report["gravity/auroc"] == 1.0
    assert report["gravity/pairwise_acc_low"] == 1.0
    assert 0.25 < report["inertia/pairwise_acc"] < 0.75
    assert report["inertia/pairwise_acc_low"] < report["inertia/pairwise_acc"] < report["inertia/pairwise_acc_high"]
    assert report["all/num_pairs"] == 80
    assert report["all/pairwise_acc"] == pytest.approx((1.0 + report["inertia/pairwise_acc"]) / 2)


def test_mean_score_is_used_when_asked():
    records = _records("k", [1.0], [2.0])
    records[0]["surprise_mean"] = 5.0  # the impossible video's mean is the higher one
    assert voe_report(records, "max", 0)["k/pairwise_acc"] == 0.0
    assert voe_report(records, "mean", 0)["k/pairwise_acc"] == 1.0


def test_an_incomplete_pair_is_named():
    records = _records("solidity", [2.0, 3.0], [1.0, 1.0])[:-1]
    with pytest.raises(DataError, match="solidity pair 1"):
        voe_report(records)


def test_metric_reads_scores_from_outputs_and_pair_info_from_the_batch():
    metric = VoEPairwiseMetric(num_bootstrap=0)
    batch = dict(data_samples=[dict(class_name="continuity", pair=0, possible=False),
                               dict(class_name="continuity", pair=0, possible=True)])
    metric.process(batch, [dict(surprise_max=0.9, surprise_mean=0.5), dict(surprise_max=0.4, surprise_mean=0.3)])
    assert metric.compute_metrics(metric.results)["continuity/pairwise_acc"] == 1.0
    with pytest.raises(DataError, match="no 'surprise_max'"):
        metric.process(batch, [dict(features=None), dict(features=None)])
