"""Built-in AEGIS plugin: policies (RL agents), their training loop and runner."""
from aegis.plugins import hookimpl

__all__ = ["load_sb3_agent"]


def __getattr__(name: str):
    """``load_sb3_agent`` imported on first use: loading the plugin must not import SB3 and torch."""
    if name == "load_sb3_agent":
        from .agent_io import load_sb3_agent
        return load_sb3_agent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def aegis_register(registries):
    """Register PPOAgent (SB3 PPO over an encoder extractor), the RL train loop and the RL runner."""
    from .ppo import PPOAgent
    from .rl_loop import RLTrainLoop
    from .rl_runner import RLRunner

    registries.POLICIES.register_module(module=PPOAgent)
    registries.POLICIES.register_renamed("PPOPolicy", "PPOAgent")  # renamed: PPO is the algorithm, not the policy
    registries.LOOPS.register_module(module=RLTrainLoop)
    registries.RUNNERS.register_module(module=RLRunner)
