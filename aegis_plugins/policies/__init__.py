"""Built-in AEGIS plugin: policies (RL agents), their training loop and runner."""
from aegis.plugins import hookimpl


@hookimpl
def aegis_register(registries):
    """Register PPOPolicy (SB3 PPO over an encoder extractor), the RL train loop and the RL runner."""
    from .ppo import PPOPolicy
    from .rl_loop import RLTrainLoop
    from .rl_runner import RLRunner

    registries.POLICIES.register_module(module=PPOPolicy)
    registries.LOOPS.register_module(module=RLTrainLoop)
    registries.RUNNERS.register_module(module=RLRunner)
