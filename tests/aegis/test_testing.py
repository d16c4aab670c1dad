"""aegis/testing.py: each contract check catches the fault it exists for, and passes a component that keeps it."""
import random

import pytest
import torch
from torch import nn

from aegis.contracts import Connector, VideoEncoder
from aegis.errors import ConfigError
from aegis.registry import CONNECTORS, ENCODERS
from aegis.testing import ContractViolation, check_component


class _GoodConnector(nn.Module):
    """(B, N, input_dim) -> (B, Q, output_dim): mean-pooled tokens through a linear map, repeated Q times."""

    def __init__(self, input_dim: int, output_dim: int, num_query_tokens: int = 2) -> None:
        super().__init__()
        self.input_dim, self.output_dim, self.num_output_tokens = input_dim, output_dim, num_query_tokens
        self.proj = nn.Linear(input_dim, output_dim)

    def forward(self, tokens, grid=None):
        return self.proj(tokens.mean(1, keepdim=True)).expand(-1, self.num_output_tokens, -1)  # (B, Q, D)


class _NoTokenCount(_GoodConnector):
    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__(input_dim, output_dim)
        del self.num_output_tokens


class _LeakyFrozen(_GoodConnector):
    """Claims a frozen part but lets gradients into it."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__(input_dim, output_dim)
        self.frozen_scale = nn.Parameter(torch.ones(1), requires_grad=False)

    def forward(self, tokens, grid=None):
        self.frozen_scale.requires_grad_(True)
        return super().forward(tokens) * self.frozen_scale


class _DeadBranch(_GoodConnector):
    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__(input_dim, output_dim)
        self.unused = nn.Linear(input_dim, output_dim)


class _UnseededInit(_GoodConnector):
    """Draws its init from Python's generator, which torch.manual_seed does not seed."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__(input_dim, output_dim)
        with torch.no_grad():
            self.proj.bias.fill_(random.random())


class _ForgetfulStateDict(_GoodConnector):
    """Keeps part of its state outside the state dict."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__(input_dim, output_dim)
        self.offset = torch.randn(output_dim)  # a plain attribute: neither parameter nor buffer

    def forward(self, tokens, grid=None):
        return super().forward(tokens) + self.offset


@pytest.fixture
def registered():
    names = []

    def register(cls):
        CONNECTORS.register_module(name=cls.__name__, module=cls)
        names.append(cls.__name__)
        return dict(type=cls.__name__)

    yield register
    for name in names:
        CONNECTORS._module_dict.pop(name)


def _check(cfg, **kwargs):
    tokens = torch.randn(2, 4, 8)
    return check_component(cfg, Connector, run=lambda c: c(tokens), injected=dict(input_dim=8, output_dim=6), **kwargs)


def test_a_component_that_keeps_the_contract_passes_and_gets_its_injected_widths(registered):
    built = _check(registered(_GoodConnector), expect_shape=(2, 2, 6))
    assert (built.input_dim, built.output_dim) == (8, 6)


def test_a_wrong_output_shape_is_reported(registered):
    with pytest.raises(ContractViolation, match=r"output shape \(2, 2, 6\), expected \(2, 3, 6\)"):
        _check(registered(_GoodConnector), expect_shape=(2, 3, 6))


def test_a_missing_contract_member_is_a_config_error_naming_it(registered):
    with pytest.raises(ConfigError, match="does not satisfy the Connector contract.*has no num_output_tokens"):
        _check(registered(_NoTokenCount))


def test_gradients_into_a_frozen_parameter_are_reported(registered):
    with pytest.raises(ContractViolation, match="frozen parameter\\(s\\) frozen_scale received gradients"):
        _check(registered(_LeakyFrozen))


def test_a_trainable_parameter_no_gradient_reaches_is_reported_unless_declared_unused(registered):
    cfg = registered(_DeadBranch)
    with pytest.raises(ContractViolation, match="no gradient reaches trainable parameter\\(s\\) unused.weight"):
        _check(cfg)
    _check(cfg, unused_parameters=("unused.",))


def test_an_init_the_seed_does_not_fix_is_reported(registered):
    with pytest.raises(ContractViolation, match="a second build with the same seed \\(weights\\)"):
        _check(registered(_UnseededInit))


def test_state_kept_outside_the_state_dict_fails_the_round_trip(registered):
    with pytest.raises(ContractViolation, match="weights-only state-dict round trip"):
        _check(registered(_ForgetfulStateDict))


def test_an_encoder_checked_against_its_family_contract():
    check_component(dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=1, num_heads=2, patch_size=8,
                         tubelet_size=2, num_frames=2, img_size=16), VideoEncoder,
                    run=lambda e: e(torch.randn(2, 3, 2, 16, 16)), expect_shape=(2, 4, 32))
    assert ENCODERS.get("VJEPAEncoder") is not None
