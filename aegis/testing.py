"""Check a component against its family's contract — for AEGIS's own tests and for a plugin package's tests.

``check_component`` builds a component from its config through the one build path (so the contract's attributes
are checked), runs it, and asserts what every component owes its users:

- its output is finite, of the expected shape and dtype, and passes ``expect`` (a predicate on the output);
- the same seed gives the same weights and the same output (determinism);
- a backward pass from the output reaches every trainable parameter and no frozen one;
- its state dict survives a weights-only save and load into a fresh build: the reloaded copy gives the same output.

``check_dataset`` checks that samples carry the dataset's declared ``sample_keys`` and that reading a sample twice
gives the same tensors. ``check_env`` does the same for an environment: Gymnasium's ``check_env``, the observation in its space, and the
same seed giving the same episode. A failed check raises :class:`ContractViolation` saying which check and why.

Example (a connector from a third-party package)::

    from aegis.contracts import Connector
    from aegis.testing import check_component

    def test_my_connector_keeps_its_contract():
        tokens = torch.randn(2, 4, 32)
        check_component(dict(type="MyConnector", num_query_tokens=4), Connector,
                        run=lambda c: c(tokens, (1, 2, 2)), injected=dict(input_dim=32, output_dim=48),
                        expect_shape=(2, 4, 48))
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["ContractViolation", "check_component", "check_dataset", "check_env", "tensors_in"]


class ContractViolation(AssertionError):
    """A component does not keep its family's contract; the message names the check that failed."""


def tensors_in(output: Any) -> list:
    """Every tensor in ``output`` (a tensor, a numpy array, or dicts / lists / tuples of them), in order."""
    import numpy as np
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, np.ndarray) and output.dtype != object:
        return [torch.from_numpy(np.asarray(output))]
    if isinstance(output, Mapping):
        return [t for value in output.values() for t in tensors_in(value)]
    if isinstance(output, (list, tuple)):
        return [t for value in output for t in tensors_in(value)]
    return []


def _build(cfg: Mapping, family, injected: Mapping, seed: int):
    import torch

    from .build import build_component
    from .plugins import load

    load()  # every installed plugin, as a run would see them (once per process)
    torch.manual_seed(seed)
    return build_component(cfg, family, f"{cfg.get('type')}", **dict(injected))


def _run(component, run: Callable, seed: int):
    import torch

    torch.manual_seed(seed)
    return run(component)


def _same(first: list, second: list, what: str, name: str) -> None:
    import torch

    if len(first) != len(second):
        raise ContractViolation(f"{name}: {what} gave {len(first)} tensors, then {len(second)}.")
    for index, (a, b) in enumerate(zip(first, second)):
        a, b = a.detach().cpu(), b.detach().cpu()
        if a.shape != b.shape or a.dtype != b.dtype or not torch.equal(a, b):
            diff = ((a.double() - b.double()).abs().max().item() if a.shape == b.shape else "shape differs")
            raise ContractViolation(f"{name}: {what} changed output tensor {index} (max difference {diff}).")


def check_component(cfg: Mapping, family, run: Callable[[Any], Any], *, injected: Mapping | None = None,
                    expect_shape: tuple[int, ...] | None = None, expect_dtype=None,
                    expect: Callable[[Any], bool] | None = None, seed: int = 0,
                    unused_parameters: Iterable[str] = (), check_gradients: bool = True) -> Any:
    """Build ``cfg`` as a member of ``family`` (a contract of ``aegis.contracts`` or a registry), call
    ``run(component)`` and check the contract (see the module docstring). Returns the built component.

    ``injected`` are the sizes a parent would supply (a connector's ``input_dim``). ``expect_shape`` and
    ``expect_dtype`` apply to the first tensor of the output. ``unused_parameters`` are name prefixes of trainable
    parameters that this ``run`` legitimately does not reach (e.g. a second mask token). With
    ``check_gradients=False`` the gradient check is skipped (for outputs that are not differentiable by design).
    """
    import torch
    from torch import nn

    injected = dict(injected or {})
    name = str(cfg.get("type"))
    component = _build(cfg, family, injected, seed)
    frozen = ({n for n, p in component.named_parameters() if not p.requires_grad}
              if isinstance(component, nn.Module) else set())  # as built, before run can change anything
    output = _run(component, run, seed)
    tensors = tensors_in(output)
    for index, tensor in enumerate(tensors):
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ContractViolation(f"{name}: output tensor {index} has NaN or inf values.")
    if expect_shape is not None or expect_dtype is not None:
        if not tensors:
            raise ContractViolation(f"{name}: the output holds no tensor to check the shape of.")
        if expect_shape is not None and tuple(tensors[0].shape) != tuple(expect_shape):
            raise ContractViolation(f"{name}: output shape {tuple(tensors[0].shape)}, expected {tuple(expect_shape)}.")
        if expect_dtype is not None and tensors[0].dtype != expect_dtype:
            raise ContractViolation(f"{name}: output dtype {tensors[0].dtype}, expected {expect_dtype}.")
    if expect is not None and not expect(output):
        raise ContractViolation(f"{name}: the output does not satisfy `expect`: {_describe(output)}.")

    if not isinstance(component, nn.Module):
        again = _run(_build(cfg, family, injected, seed), run, seed)
        _same(tensors, tensors_in(again), "a second build with the same seed", name)
        return component

    twin = _build(cfg, family, injected, seed)
    _same(list(component.state_dict().values()), list(twin.state_dict().values()),
          "a second build with the same seed (weights)", name)
    _same(tensors, tensors_in(_run(twin, run, seed)), "a second build with the same seed", name)

    if check_gradients:
        _check_gradients(component, tensors, name, tuple(unused_parameters), frozen)

    buffer = io.BytesIO()
    torch.save(component.state_dict(), buffer)
    buffer.seek(0)
    reloaded = _build(cfg, family, injected, seed + 1)
    try:
        reloaded.load_state_dict(torch.load(buffer, weights_only=True))
    except Exception as exc:
        raise ContractViolation(f"{name}: its state dict does not load back into a fresh build: {exc}") from exc
    component.zero_grad(set_to_none=True)
    _same(tensors_in(_run(component, run, seed)), tensors_in(_run(reloaded, run, seed)),
          "a weights-only state-dict round trip", name)
    return component


def _check_gradients(module, tensors: list, name: str, unused: tuple[str, ...], frozen_names: set[str]) -> None:
    trainable = {n: p for n, p in module.named_parameters() if n not in frozen_names}
    frozen = {n: p for n, p in module.named_parameters() if n in frozen_names}
    differentiable = [t for t in tensors if t.is_floating_point() and t.requires_grad]
    if trainable and not differentiable:
        raise ContractViolation(f"{name}: has {len(trainable)} trainable parameter tensors but its output carries no "
                                "gradient (is the forward under no_grad, or are the parameters meant to be frozen?).")
    if not differentiable:
        return
    total = sum(t.float().sum() for t in differentiable)
    total.backward()
    missing = [n for n, p in trainable.items() if p.grad is None and not n.startswith(unused)]
    if missing:
        raise ContractViolation(f"{name}: no gradient reaches trainable parameter(s) {', '.join(missing[:5])}"
                                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "") + ".")
    leaked = [n for n, p in frozen.items() if p.grad is not None]
    if leaked:
        raise ContractViolation(f"{name}: frozen parameter(s) {', '.join(leaked[:5])} received gradients.")


def _describe(output: Any) -> str:
    text = repr(output)
    return text if len(text) <= 200 else text[:200] + "..."


def check_env(cfg: Mapping, *, steps: int = 16, seed: int = 0, family=None) -> Any:
    """Build the environment ``cfg`` and check it: Gymnasium's ``check_env``, observations inside the observation
    space, and two builds given the same seed and the same actions playing the same episode. Returns the env."""
    import numpy as np
    from gymnasium.utils.env_checker import check_env as gymnasium_check_env

    from .build import build_component
    from .contracts import Environment

    from .plugins import load

    load()
    family = family or Environment
    name = str(cfg.get("type"))
    env = build_component(cfg, family, name)
    gymnasium_check_env(env, skip_render_check=True)

    def play(environment) -> list:
        environment.action_space.seed(seed)
        obs, _ = environment.reset(seed=seed)
        trace = [obs]
        for _ in range(steps):
            obs, reward, terminated, truncated, _ = environment.step(environment.action_space.sample())
            if not environment.observation_space.contains(obs):
                raise ContractViolation(f"{name}: step returned an observation outside observation_space.")
            trace += [obs, float(reward), bool(terminated), bool(truncated)]
            if terminated or truncated:
                obs, _ = environment.reset()
                trace.append(obs)
        return trace

    first, second = play(env), play(build_component(cfg, family, name))
    for a, b in zip(first, second):
        equal = (all(np.array_equal(a[k], b[k]) for k in a) if isinstance(a, dict) else np.array_equal(a, b))
        if not equal:
            raise ContractViolation(f"{name}: the same seed and actions gave a different episode.")
    return env


def check_dataset(cfg: Mapping, *, num_samples: int = 2, family=None) -> Any:
    """Build the dataset ``cfg`` and check its first ``num_samples`` samples: each is a dict with every key of the
    class's ``sample_keys``, and reading it again under the same seed gives the same tensors. Returns the dataset."""
    from .build import build_component
    from .contracts import SampleDataset
    from .plugins import load

    load()
    name = str(cfg.get("type"))
    dataset = build_component(cfg, family or SampleDataset, name)
    if len(dataset) < 1:
        raise ContractViolation(f"{name}: the dataset is empty.")
    for index in range(min(num_samples, len(dataset))):
        sample = _read_seeded(dataset, index)
        missing = [k for k in dataset.sample_keys if not isinstance(sample, Mapping) or k not in sample]
        if missing:
            raise ContractViolation(f"{name}: sample {index} lacks declared sample_keys {missing}.")
        _same(tensors_in(sample), tensors_in(_read_seeded(dataset, index)),
              f"reading sample {index} again under the same seed", name)
    return dataset


def _read_seeded(dataset, index: int, seed: int = 0):
    """``dataset[index]`` with Python's, NumPy's and torch's global generators seeded (random augmentations)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return dataset[index]
