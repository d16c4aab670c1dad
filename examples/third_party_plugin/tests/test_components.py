"""The plugin's components keep their AEGIS family contracts, checked with aegis.testing (as docs/plugins.md shows).

Run from the package folder after `pip install .`: `python -m pytest tests`.
"""
import pytest
import torch

from aegis.contracts import Connector, VideoEncoder
from aegis.registry import MODELS
from aegis.testing import ContractViolation, check_component

CLIP = torch.rand(2, 3, 5, 16, 16)  # (B, C, T, H, W)


def test_motion_encoder_gives_one_token_per_frame_difference():
    encoder = check_component(dict(type="MotionEnergyEncoder", embed_dim=8, grid=2), VideoEncoder,
                              run=lambda e: e(CLIP), expect_shape=(2, 4, 8))
    assert encoder.grid_of(CLIP.shape) == (4, 1, 1)


def test_motion_energy_of_a_still_clip_is_the_bias_alone():
    still = torch.ones(1, 3, 3, 16, 16)
    check_component(dict(type="MotionEnergyEncoder", embed_dim=8, grid=2), VideoEncoder,
                    run=lambda e: e(still) - e.proj.bias, expect=lambda out: bool((out.abs() < 1e-6).all()))


def test_time_step_connector_gets_its_widths_from_the_parent():
    tokens = torch.randn(2, 4 * 4, 8)  # a (4, 2, 2) grid of width 8
    connector = check_component(dict(type="TimeStepConnector", num_time_steps=2, hidden_size=16), Connector,
                                run=lambda c: c(tokens, (4, 2, 2)), injected=dict(input_dim=8, output_dim=12),
                                expect_shape=(2, 2, 12))
    assert connector.num_output_tokens == 2


def test_clip_classifier_trains_its_encoder_and_head():
    check_component(dict(type="ClipClassifier", num_classes=3,
                         encoder=dict(type="MotionEnergyEncoder", embed_dim=8, grid=2)), MODELS,
                    run=lambda model: model(CLIP), expect_shape=(2, 3))


def test_a_wrong_expected_shape_is_caught():
    with pytest.raises(ContractViolation, match="output shape"):
        check_component(dict(type="MotionEnergyEncoder", embed_dim=8), VideoEncoder, run=lambda e: e(CLIP),
                        expect_shape=(2, 5, 8))
