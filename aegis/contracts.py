"""What each component family promises, stated once.

A *family* is a registry plus a contract: a documented :class:`typing.Protocol` saying which attributes and methods a
component of that family has, with tensor shapes, and which constructor arguments its parent *injects* (sizes the
parent knows at build time: a connector's ``input_dim`` is the encoder's width). A parent reads a child's sizes
through these attributes, never through ``hasattr``; :func:`aegis.build.build_component` checks the built child
against its contract, and :mod:`aegis.testing` checks a component's behaviour against it.

A constructor argument that takes a sub-component is annotated ``Component[Contract]`` (``aegis.annotations``); that
annotation tells validation which registry the ``type`` is looked up in and which arguments the parent supplies.
Plugins add families of their own through the ``aegis_add_families`` hook.

Shape letters (docs/concepts.md): B batch, C channels, T frames, H/W height/width, N visual tokens, Q output tokens
of a connector, L text tokens, D width, V vocabulary, K selected tokens.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .errors import ConfigError

__all__ = [
    "VideoEncoder", "Connector", "LLMBackend", "Loss", "MaskGenerator", "LatentPredictor", "SampleDataset",
    "Transform", "Environment", "RLAgent", "Loop", "Family", "check_loss_name", "missing_members",
]


class VideoEncoder(Protocol):
    """A video encoder (family ``ENCODERS``): ``forward(video)`` maps a (B, C, T, H, W) float clip to tokens
    (B, N, D), with D = ``embed_dim`` and N = T'·H'·W' for the grid ``grid_of(video.shape)``; an encoder that pools
    to one vector per clip returns (B, D) and its ``grid_of`` returns None. ``grid_size`` is the (T', H', W') token
    grid of the configured clip size, before any pooling (None when the grid depends on the clip). ``frozen`` encoders never train."""

    embed_dim: int
    grid_size: tuple[int, int, int] | None
    frozen: bool

    def grid_of(self, video_shape: Sequence[int]) -> tuple[int, int, int] | None:
        """The (T', H', W') token grid of a (B, C, T, H, W) input shape, or None for a pooled encoder."""


class Connector(Protocol):
    """A connector (family ``CONNECTORS``): ``forward(visual_tokens, grid)`` maps (B, N, input_dim) tokens with
    their (T', H', W') grid (or None) to (B, Q, output_dim), Q = ``num_output_tokens``. ``input_dim`` (the encoder's
    width) and ``output_dim`` (the LLM's width) are injected by the parent model."""

    injected: ClassVar[tuple[str, ...]] = ("input_dim", "output_dim")
    input_dim: int
    output_dim: int
    num_output_tokens: int


class LLMBackend(Protocol):
    """A language-model backend (family ``LLMS``). The embedding side: ``embed_tokens(ids (B, L)) -> (B, L, D)``,
    ``forward(inputs_embeds (B, L, D), attention_mask (B, L), labels (B, L) | None)`` -> an output with ``loss`` and
    ``logits`` (B, L, V), ``generate(inputs_embeds, attention_mask, max_new_tokens, ...) -> (B, L_new)`` ids, with
    D = ``hidden_size``. The tokenizer side: ``encode(text) -> ids``, ``decode(ids) -> text`` and the special ids."""

    hidden_size: int
    frozen: bool
    bos_token_id: int | None
    eos_token_id: int
    pad_token_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Any) -> str: ...

    def embed_tokens(self, ids: Any) -> Any: ...

    def generate(self, inputs_embeds: Any, attention_mask: Any, max_new_tokens: int = 30) -> Any: ...


class Loss(Protocol):
    """A loss term (family ``LOSSES``): ``forward(...)`` returns a weighted scalar, logged as ``train/<loss_name>``.
    ``loss_name`` contains "loss" (mmengine sums and logs only such keys) and is not "loss" itself (the total). A
    parent may inject ``hidden_size`` (the width of the features it compares); only losses that take it get it."""

    injected: ClassVar[tuple[str, ...]] = ("hidden_size",)
    loss_name: str


class MaskGenerator(Protocol):
    """A token-mask sampler (family ``MASK_GENERATORS``): ``__call__(batch_size, grid_size, generator)`` returns
    (context indices (B, Kc), target indices (B, Kt)) into the N = T'·H'·W' tokens of ``grid_size``."""

    def __call__(self, batch_size: int, grid_size: Sequence[int], generator: Any = None) -> Any: ...


class LatentPredictor(Protocol):
    """A JEPA predictor (family ``PREDICTORS``): ``forward(context (B, Kc, De), context_idx (B, Kc), target_idx
    (B, Kt), mask_index)`` predicts (B, Kt, De) latents of the target tokens. The encoder's width
    ``encoder_embed_dim``, its token ``grid_size`` and the number of mask groups ``num_mask_tokens`` are injected."""

    injected: ClassVar[tuple[str, ...]] = ("encoder_embed_dim", "grid_size", "num_mask_tokens")


class SampleDataset(Protocol):
    """A dataset (family ``DATASETS``): ``dataset[i]`` is a dict with at least the keys ``sample_keys`` (e.g.
    ``inputs`` (C, T, H, W) float, ``caption``, ``label``); ``len(dataset)`` samples; ``metainfo`` describes it."""

    sample_keys: tuple[str, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Mapping[str, Any]: ...


class Transform(Protocol):
    """A pipeline step (family ``TRANSFORMS``): ``__call__(results dict) -> results dict``."""

    def __call__(self, results: dict) -> dict: ...


@dataclass(frozen=True)
class Family:
    """One component family: its registry constant (``"CONNECTORS"``), display name, contract and what it is for."""

    constant: str
    name: str
    contract: type | None
    description: str

    @property
    def injected(self) -> tuple[str, ...]:
        """Constructor arguments a parent supplies when it builds a member of this family."""
        return tuple(getattr(self.contract, "injected", ())) if self.contract is not None else ()


def missing_members(obj: Any, contract: type) -> list[str]:
    """The attributes and methods of ``contract`` that ``obj`` lacks (empty when it satisfies the contract)."""
    names = [n for n in getattr(contract, "__protocol_attrs__", None) or _protocol_members(contract)
             if n != "injected"]
    return [n for n in sorted(names) if not hasattr(obj, n)]


def _protocol_members(contract: type) -> set[str]:
    members: set[str] = set()
    for klass in contract.__mro__[:-1]:
        if klass.__name__ in ("Protocol", "Generic"):
            continue
        members |= set(getattr(klass, "__annotations__", {}))
        members |= {n for n, v in vars(klass).items() if callable(v) and not n.startswith("_")}
        if "__call__" in vars(klass):
            members.add("__call__")
    return members


def check_loss_name(owner: str, loss_name: str) -> str:
    """``loss_name`` if mmengine will log it as a loss term; else a ConfigError naming ``owner.loss_name``."""
    if not isinstance(loss_name, str) or "loss" not in loss_name:
        suggestion = f"{loss_name}_loss" if isinstance(loss_name, str) and loss_name else "reconstruction_loss"
        raise ConfigError(f"{owner}.loss_name={loss_name!r}: mmengine sums and logs only keys containing 'loss'; "
                          f"use e.g. {suggestion!r}.")
    if loss_name == "loss":
        raise ConfigError(f"{owner}.loss_name='loss' is reserved for the total; use e.g. 'reconstruction_loss'.")
    return loss_name


class Environment(Protocol):
    """An environment (family ``ENVS``): a ``gymnasium.Env`` — ``reset(seed=...) -> (obs, info)``,
    ``step(action) -> (obs, reward, terminated, truncated, info)``, with its ``observation_space`` and
    ``action_space``; Gymnasium's ``check_env`` passes. Exact resume needs ``get_state()``/``set_state(state)``."""

    observation_space: Any
    action_space: Any

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any: ...

    def step(self, action: Any) -> Any: ...


class RLAgent(Protocol):
    """An RL agent (family ``POLICIES``): built on the vectorised env and seed its runner injects; ``predict(
    observation, deterministic)`` returns (actions (n_envs,), state) as in Stable-Baselines3."""

    injected: ClassVar[tuple[str, ...]] = ("env", "seed")

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> Any: ...


class Loop(Protocol):
    """A train/val/test loop (family ``LOOPS``, mmengine's ``BaseLoop``): ``run()`` drives the runner. The runner
    injects ``runner`` and the ``dataloader`` (and ``evaluator``) of a supervised phase, or the ``env`` and
    ``policy`` configs of an RL phase; each reaches only loops whose constructor takes it."""

    injected: ClassVar[tuple[str, ...]] = ("runner", "dataloader", "evaluator", "env", "policy")

    def run(self) -> Any: ...
