"""Caption metrics: BLEU-4/CIDEr agree with the libraries' known behaviour; the task accuracies read the right words."""
import pytest

from aegis.build import build_component
from aegis.errors import ConfigError, DataError
from aegis.registry import METRICS
from aegis_plugins.metrics.caption import DEFAULT_TYPE_KEYWORDS, classify_caption, normalize_caption, speed_of


def _sample(pred, refs, class_name="flood", **extra):
    return dict(pred_caption=pred, caption=refs[0], captions=refs, class_name=class_name, **extra)


def _score(cfg, samples):
    metric = build_component(cfg, METRICS)
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_bleu_cider_perfect_and_wrong():
    refs = [["Water level rising rapidly", "The flood water is rising rapidly"],
            ["Fire spreading slowly to the east", "A wildfire spreads slowly toward the east"],
            ["The ground is shaking violently", "An earthquake shakes the buildings violently"]]
    perfect = _score(dict(type="CaptionMetric"), [_sample(r[0] + ".", r) for r in refs])
    wrong = _score(dict(type="CaptionMetric"), [_sample("a calm scene with a bird", r) for r in refs])
    assert perfect["caption/bleu4"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["caption/sacrebleu"] == pytest.approx(100.0)
    assert perfect["caption/cider"] > 1.0 and wrong["caption/cider"] < 0.1
    assert wrong["caption/bleu4"] < 1e-3


def test_type_and_dynamics_accuracy():
    samples = [
        _sample("Water level rising rapidly", ["Water level rising rapidly"], "flood", speed="fast"),
        _sample("Water level rising slowly", ["Water level rising rapidly"], "flood", speed="fast"),
        _sample("Fire spreading slowly to the west", ["Fire spreading slowly to the east"], "wildfire",
                speed="slow", direction="east"),
        _sample("A calm scene", ["The ground is shaking gently"], "earthquake"),  # speed from the reference
    ]
    scores = _score(dict(type="DisasterAccuracyMetric"), samples)
    assert scores["disaster/type_acc"] == pytest.approx(3 / 4)
    assert scores["disaster/dynamics_acc"] == pytest.approx(2 / 4)
    assert scores["disaster/direction_acc"] == pytest.approx(0.0)


def test_keyword_rules():
    assert normalize_caption("Fire, spreading  RAPIDLY!") == "fire spreading rapidly"
    assert classify_caption("A wildfire spreads toward the east", DEFAULT_TYPE_KEYWORDS) == "wildfire"
    assert classify_caption("Smoke rising from the fire, thick smoke", DEFAULT_TYPE_KEYWORDS) == "smoke"  # 2 vs 1
    assert classify_caption("fireworks", DEFAULT_TYPE_KEYWORDS) is None  # whole words only
    assert speed_of("rising rapidly then slowly", {"fast": ["rapidly"], "slow": ["slowly"]}) is None


def test_bad_inputs():
    with pytest.raises(DataError, match="no 'pred_caption'"):
        _score(dict(type="CaptionMetric"), [dict(caption="x")])
    with pytest.raises(ConfigError, match="class 'tsunami' has no keywords"):
        _score(dict(type="DisasterAccuracyMetric"), [_sample("x", ["x"], "tsunami")])
    with pytest.raises(DataError, match="no 'class_name'"):
        _score(dict(type="DisasterAccuracyMetric"), [dict(pred_caption="x", caption="x")])
