"""The `easy` preset is learnable: SB3 PPO with a small CNN beats 0.6 success and twice a random policy (slow)."""
import numpy as np
import pytest

from aegis_plugins.envs.disaster import DisasterRescueEnv


def _success_rate(policy, episodes: int = 200) -> float:
    env = DisasterRescueEnv(preset="easy")
    rng = np.random.default_rng(0)
    successes = 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=100_000 + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs, rng))
            done = terminated or truncated
        successes += info["success"]
    return successes / episodes


@pytest.mark.slow
def test_ppo_with_a_small_cnn_learns_easy():
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    torch.set_num_threads(1)

    class SmallCNN(BaseFeaturesExtractor):
        def __init__(self, space, features_dim: int = 128):
            super().__init__(space, features_dim)
            self.net = torch.nn.Sequential(
                torch.nn.Conv2d(space.shape[0], 16, 8, 4), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 4, 2),
                torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, 1), torch.nn.ReLU(), torch.nn.Flatten())
            with torch.no_grad():
                n = self.net(torch.zeros(1, *space.shape)).shape[1]
            self.head = torch.nn.Sequential(torch.nn.Linear(n, features_dim), torch.nn.ReLU())

        def forward(self, x):
            return self.head(self.net(x))

    venv = make_vec_env(lambda: DisasterRescueEnv(preset="easy"), n_envs=8, seed=0)
    model = PPO("CnnPolicy", venv, policy_kwargs=dict(features_extractor_class=SmallCNN, net_arch=[64, 64]),
                learning_rate=5e-4, n_steps=64, batch_size=256, n_epochs=4, gamma=0.95, gae_lambda=0.9,
                ent_coef=0.01, seed=0, verbose=0)
    model.learn(50_000)
    trained = _success_rate(lambda obs, rng: int(model.predict(obs, deterministic=True)[0]))
    random = _success_rate(lambda obs, rng: int(rng.integers(4)))
    assert trained >= 0.6 and trained >= 2 * random, (trained, random)
