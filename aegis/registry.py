"""The registries of AEGIS, all in scope ``aegis``.

mmengine resolves ``default_scope='aegis'`` by importing ``aegis.registry``, so this path is fixed.
Registries the Runner builds from are children of mmengine's roots (one child per scope is allowed);
the component families are standalone registries of the same scope. ``FAMILIES`` gives each family its contract
(``aegis.contracts``).
"""
from __future__ import annotations

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

from . import contracts
from .contracts import Family

__all__ = [
    "SCOPE", "MODELS", "DATASETS", "TRANSFORMS", "HOOKS", "LOOPS", "METRICS", "RUNNERS", "FUNCTIONS",
    "DATA_SAMPLERS", "OPTIMIZERS", "OPTIM_WRAPPERS", "PARAM_SCHEDULERS", "MODEL_WRAPPERS", "VISBACKENDS",
    "LOG_PROCESSORS", "VISUALIZERS", "EVALUATOR", "OPTIM_WRAPPER_CONSTRUCTORS", "WEIGHT_INITIALIZERS", "ENCODERS", "CONNECTORS", "LLMS", "LOSSES", "MASK_GENERATORS", "PREDICTORS", "ENVS", "POLICIES", "CAPTIONERS",
    "COMPONENT_REGISTRIES", "FAMILIES", "add_family", "family_of_contract",
]

SCOPE = "aegis"

# --- children of mmengine's roots: what the Runner builds --------------------------------------------------
MODELS = Registry("model", parent=MMENGINE_MODELS, scope=SCOPE)  # composite models the Runner trains
DATASETS = Registry("dataset", parent=MMENGINE_DATASETS, scope=SCOPE)  # datasets yielding dict samples
TRANSFORMS = Registry("transform", parent=MMENGINE_TRANSFORMS, scope=SCOPE)  # pipeline steps on samples
HOOKS = Registry("hook", parent=MMENGINE_HOOKS, scope=SCOPE)  # Runner hooks (EMA target, metrics.json, ...)
LOOPS = Registry("loop", parent=MMENGINE_LOOPS, scope=SCOPE)  # train/val loops (e.g. one that drives SB3)
METRICS = Registry("metric", parent=MMENGINE_METRICS, scope=SCOPE)  # evaluator metrics
RUNNERS = Registry("runner", parent=MMENGINE_RUNNERS, scope=SCOPE)  # Runner classes (AegisRunner)
FUNCTIONS = Registry("function", parent=MMENGINE_FUNCTIONS, scope=SCOPE)  # collate functions and the like
DATA_SAMPLERS = Registry("data sampler", parent=MMENGINE_DATA_SAMPLERS, scope=SCOPE)  # dataloader samplers
OPTIMIZERS = Registry("optimizer", parent=MMENGINE_OPTIMIZERS, scope=SCOPE)  # optimizers beyond torch's
OPTIM_WRAPPERS = Registry("optim_wrapper", parent=MMENGINE_OPTIM_WRAPPERS, scope=SCOPE)  # optimizer wrappers
PARAM_SCHEDULERS = Registry("parameter scheduler", parent=MMENGINE_PARAM_SCHEDULERS, scope=SCOPE)  # lr/momentum
MODEL_WRAPPERS = Registry("model_wrapper", parent=MMENGINE_MODEL_WRAPPERS, scope=SCOPE)  # DDP-style wrappers
VISBACKENDS = Registry("vis_backend", parent=MMENGINE_VISBACKENDS, scope=SCOPE)  # logging backends
LOG_PROCESSORS = Registry("log_processor", parent=MMENGINE_LOG_PROCESSORS, scope=SCOPE)  # log formatting
# Children that only exist so mmengine finds an "aegis" node in every tree it builds from (no AEGIS entries).
VISUALIZERS = Registry("visualizer", parent=MMENGINE_VISUALIZERS, scope=SCOPE)
EVALUATOR = Registry("evaluator", parent=MMENGINE_EVALUATOR, scope=SCOPE)
OPTIM_WRAPPER_CONSTRUCTORS = Registry("optimizer wrapper constructor", parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                      scope=SCOPE)
WEIGHT_INITIALIZERS = Registry("weight initializer", parent=MMENGINE_WEIGHT_INITIALIZERS, scope=SCOPE)

# --- standalone component families (built by composite models, envs and policies) ------------------------
ENCODERS = Registry("encoder", scope=SCOPE)  # video -> tokens (B, C, T, H, W) -> (B, N, D)
CONNECTORS = Registry("connector", scope=SCOPE)  # visual tokens (B, N, Dv) -> LLM prefix (B, Q, Dllm)
LLMS = Registry("llm", scope=SCOPE)  # language-model backends (frozen or LoRA)
LOSSES = Registry("loss", scope=SCOPE)  # loss terms combined by weighted lists
MASK_GENERATORS = Registry("mask generator", scope=SCOPE)  # token masks for masked latent prediction
PREDICTORS = Registry("predictor", scope=SCOPE)  # JEPA predictors: context latents -> target latents
ENVS = Registry("env", scope=SCOPE)  # Gymnasium environments
POLICIES = Registry("policy", scope=SCOPE)  # RL agents (SB3 PPO and friends) and feature extractors
CAPTIONERS = Registry("captioner", scope=SCOPE)  # auto-captioners for preparing real data

# Every registry a plugin may register into, by constant name; `aegis plugins` lists them in this order.
COMPONENT_REGISTRIES: dict[str, Registry] = {
    "ENCODERS": ENCODERS, "CONNECTORS": CONNECTORS, "LLMS": LLMS, "LOSSES": LOSSES,
    "MASK_GENERATORS": MASK_GENERATORS, "PREDICTORS": PREDICTORS, "MODELS": MODELS, "DATASETS": DATASETS, "TRANSFORMS": TRANSFORMS,
    "ENVS": ENVS, "POLICIES": POLICIES, "HOOKS": HOOKS, "LOOPS": LOOPS, "METRICS": METRICS,
    "CAPTIONERS": CAPTIONERS, "RUNNERS": RUNNERS, "FUNCTIONS": FUNCTIONS, "DATA_SAMPLERS": DATA_SAMPLERS,
    "OPTIMIZERS": OPTIMIZERS, "OPTIM_WRAPPERS": OPTIM_WRAPPERS, "PARAM_SCHEDULERS": PARAM_SCHEDULERS,
    "MODEL_WRAPPERS": MODEL_WRAPPERS, "VISBACKENDS": VISBACKENDS,
    "LOG_PROCESSORS": LOG_PROCESSORS,
}


# The component families: registry constant -> Family (contract and purpose). Families without an AEGIS contract
# follow mmengine's own base classes (BaseModel, Hook, BaseMetric, BaseLoop, ...).
FAMILIES: dict[str, Family] = {f.constant: f for f in (
    Family("ENCODERS", "encoder", contracts.VideoEncoder, "video clip -> tokens"),
    Family("CONNECTORS", "connector", contracts.Connector, "visual tokens -> LLM soft prompt"),
    Family("LLMS", "llm", contracts.LLMBackend, "language-model backends"),
    Family("LOSSES", "loss", contracts.Loss, "weighted loss terms"),
    Family("MASK_GENERATORS", "mask generator", contracts.MaskGenerator, "token masks"),
    Family("PREDICTORS", "predictor", contracts.LatentPredictor, "JEPA latent predictors"),
    Family("DATASETS", "dataset", contracts.SampleDataset, "datasets of dict samples"),
    Family("TRANSFORMS", "transform", contracts.Transform, "pipeline steps"),
    Family("ENVS", "env", contracts.Environment, "Gymnasium environments"),
    Family("POLICIES", "policy", contracts.RLAgent, "RL agents"),
    Family("MODELS", "model", None, "trainable models (mmengine BaseModel)"),
    Family("HOOKS", "hook", None, "Runner hooks (mmengine Hook)"),
    Family("LOOPS", "loop", contracts.Loop, "train/val/test loops (mmengine BaseLoop)"),
    Family("METRICS", "metric", None, "evaluator metrics (mmengine BaseMetric)"),
    Family("CAPTIONERS", "captioner", None, "auto-captioners for preparing real data"),
)}


def family_of_contract(contract: type) -> Family | None:
    """The family whose contract is ``contract`` (None when no family has it)."""
    return next((f for f in FAMILIES.values() if f.contract is contract), None)


def add_family(constant: str, name: str, contract: type | None, description: str) -> Registry:
    """Create a new family (a registry of scope ``aegis``) for a plugin; called through ``aegis_add_families``.

    ``constant`` is the UPPER_SNAKE plural the plugin registers into (``registries.DETECTORS``); adding an existing
    constant again with the same contract returns its registry, with another contract it is an error."""
    from .errors import PluginError

    if not constant.isupper() or not constant.replace("_", "").isalpha():
        raise PluginError(f"add_family: constant {constant!r} must be UPPER_SNAKE letters, e.g. 'DETECTORS'.")
    existing = FAMILIES.get(constant)
    if existing is not None:
        if existing.contract is not contract:
            raise PluginError(f"add_family: family {constant} already exists with contract "
                              f"{getattr(existing.contract, '__name__', None)}; pick another constant.")
        return COMPONENT_REGISTRIES[constant]
    if constant in COMPONENT_REGISTRIES:
        raise PluginError(f"add_family: {constant} is a registry of mmengine's Runner; pick another constant.")
    registry = Registry(name, scope=SCOPE)
    COMPONENT_REGISTRIES[constant] = registry
    FAMILIES[constant] = Family(constant, name, contract, description)
    return registry
