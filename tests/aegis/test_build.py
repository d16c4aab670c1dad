"""aegis/build.py: every config mistake is caught before anything heavy runs, with the nearest valid choice."""
import time

import pytest
from mmengine.config import Config

from aegis.build import build_component, validate
from aegis.errors import ConfigError, UnknownComponentError
from aegis.registry import HOOKS, RUNNERS


def test_unknown_type_names_the_key_and_suggests_the_closest_name():
    cfg = Config(dict(custom_hooks=[dict(type="MetricJsonHook")]))
    with pytest.raises(UnknownComponentError, match=r"(?s)custom_hooks\[0\]\.type='MetricJsonHook' is not a registered hook.*Did you mean 'MetricsJsonHook'"):
        validate(cfg)


def test_unknown_argument_suggests_the_closest_argument():
    with pytest.raises(ConfigError, match=r"(?s)unknown argument 'stop_afte'.*Did you mean 'stop_after'"):
        build_component(dict(type="StopAfterEpochHook", stop_afte=2), HOOKS, "custom_hooks[0]")


def test_value_of_the_wrong_type_names_key_value_and_expected_type():
    with pytest.raises(ConfigError, match=r"(?s)custom_hooks\[0\]\.stop_after='two'.*expected int"):
        build_component(dict(type="StopAfterEpochHook", stop_after="two"), HOOKS, "custom_hooks[0]")


def test_valid_component_is_built_with_its_arguments():
    hook = build_component(dict(type="StopAfterEpochHook", stop_after=5), HOOKS, "custom_hooks[0]")
    assert hook.stop_after == 5


def test_missing_file_is_reported_with_its_key(tmp_path):
    from typing import Optional

    from aegis.annotations import ExistingPath

    class NeedsFile:
        def __init__(self, checkpoint: Optional[ExistingPath] = None) -> None:
            self.checkpoint = checkpoint

    RUNNERS.register_module(name="_NeedsFileForTest", module=NeedsFile, force=False)
    try:
        with pytest.raises(ConfigError, match=r"(?s)runner_cfg\.checkpoint: file '.*nope\.pth' does not exist"):
            build_component(dict(type="_NeedsFileForTest", checkpoint=str(tmp_path / "nope.pth")), RUNNERS,
                            "runner_cfg")
        (tmp_path / "yes.pth").write_bytes(b"x")
        built = build_component(dict(type="_NeedsFileForTest", checkpoint=str(tmp_path / "yes.pth")), RUNNERS)
        assert built.checkpoint.endswith("yes.pth")
    finally:
        RUNNERS._module_dict.pop("_NeedsFileForTest")


def test_validation_of_the_toy_experiment_is_fast_and_finds_a_nested_typo():
    from pathlib import Path

    from aegis.config import load_experiment

    here = Path(__file__).parent / "assets"
    cfg = load_experiment(here / "toy_experiment.py",
                          cfg_options={"train_dataloader.dataset.num_sampels": 3})
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"train_dataloader\.dataset: ToyRegressionDataset got unknown argument "
                                          r"'num_sampels'\. Did you mean 'num_samples'"):
        validate(cfg)
    assert time.perf_counter() - start < 2.0


def test_a_literal_argument_lists_its_choices():
    from typing import Literal

    class Picky:
        def __init__(self, mode: Literal["tokens", "pooled"] = "tokens") -> None:
            self.mode = mode

    RUNNERS.register_module(name="_PickyForTest", module=Picky)
    try:
        with pytest.raises(ConfigError, match=r"(?s)x\.mode='pooledd'.*one of 'tokens', 'pooled' \(did you mean 'pooled'\?\)"):
            build_component(dict(type="_PickyForTest", mode="pooledd"), RUNNERS, "x")
    finally:
        RUNNERS._module_dict.pop("_PickyForTest")


def test_the_optimizer_is_validated_against_its_torch_class():
    def cfg(**optimizer):
        return Config(dict(optim_wrapper=dict(optimizer=dict(type="AdamW", lr=1e-3, **optimizer))))

    validate(cfg(betas=(0.9, 0.95)))
    with pytest.raises(ConfigError, match="optim_wrapper.optimizer: AdamW got unknown argument 'weight_decy'. "
                                          "Did you mean 'weight_decay'"):
        validate(cfg(weight_decy=0.05))
    with pytest.raises(ConfigError, match=r"optim_wrapper.optimizer.lr='fast' does not fit AdamW"):
        validate(Config(dict(optim_wrapper=dict(optimizer=dict(type="AdamW", lr="fast")))))
    with pytest.raises(UnknownComponentError, match="'AdamX' is not a registered optimizer. Did you mean 'Adamax'"):
        validate(Config(dict(optim_wrapper=dict(optimizer=dict(type="AdamX", lr=1e-3)))))


def test_a_moved_argument_says_where_it_went():
    class Gauge:
        moved_arguments = {"units": "units moved to the metric: set val_evaluator.units instead."}

        def __init__(self, level: float = 0.0) -> None:
            self.level = level

    RUNNERS.register_module(name="_GaugeForTest", module=Gauge)
    try:
        with pytest.raises(ConfigError, match=r"^x\.units: Gauge: units moved to the metric: set val_evaluator\.units"):
            build_component(dict(type="_GaugeForTest", units="m"), RUNNERS, "x")
    finally:
        RUNNERS._module_dict.pop("_GaugeForTest")


def test_a_constructor_exception_is_one_config_error_with_the_path():
    class Fussy:
        def __init__(self, size: int = 1) -> None:
            if size < 1:
                raise ValueError(f"size must be >= 1, got {size}")

    RUNNERS.register_module(name="_FussyForTest", module=Fussy)
    try:
        with pytest.raises(ConfigError, match=r"^model\.fussy: Fussy rejected its arguments: ValueError: size must be "
                                              r">= 1, got 0$"):
            build_component(dict(type="_FussyForTest", size=0), RUNNERS, "model.fussy")
    finally:
        RUNNERS._module_dict.pop("_FussyForTest")


def test_a_sub_components_family_comes_from_its_annotation_not_from_the_key_name():
    from aegis.annotations import Component
    from aegis.contracts import Connector

    class Parent:
        def __init__(self, bridge: Component[Connector]) -> None:  # not named 'connector'
            self.bridge = bridge

    RUNNERS.register_module(name="_ParentForTest", module=Parent)
    try:
        cfg = Config(dict(runner_probe=dict(type="_ParentForTest", bridge=dict(type="MLPProjector"))))
        validate(cfg)  # input_dim / output_dim are the Connector family's injected widths: not required here
        cfg.runner_probe.bridge.type = "VJEPAEncoder"  # registered, but not a connector
        with pytest.raises(UnknownComponentError, match=r"runner_probe\.bridge\.type='VJEPAEncoder' is not a "
                                                        r"registered connector"):
            validate(cfg)
    finally:
        RUNNERS._module_dict.pop("_ParentForTest")


def test_a_mapping_argument_takes_a_config_dict_from_an_experiment_file():
    """Experiment files give nested dicts as mmengine ConfigDicts; a Mapping[str, str] argument accepts them (and
    still rejects a value of the wrong type)."""
    from collections.abc import Mapping

    from mmengine.config import ConfigDict

    class TakesNames:
        def __init__(self, names: Mapping[str, str] | None = None) -> None:
            self.names = names

    RUNNERS.register_module(name="_TakesNamesForTest", module=TakesNames, force=False)
    try:
        built = build_component(dict(type="_TakesNamesForTest", names=ConfigDict(cnn="work_dirs/x")), RUNNERS)
        assert dict(built.names) == {"cnn": "work_dirs/x"}
        with pytest.raises(ConfigError, match=r"names=\{'cnn': 3\}.*expected"):
            build_component(dict(type="_TakesNamesForTest", names=ConfigDict(cnn=3)), RUNNERS, "train_cfg")
    finally:
        RUNNERS._module_dict.pop("_TakesNamesForTest")
